/*
 * redis_subscriber: the invalidation subscription of one worker. Standalone it is one
 * sc_redis_client_t in subscriber mode, as before. On a Redis Cluster a PUBLISH on any node
 * reaches every node (Redis 7), so one subscription to any node hears every message: when the
 * node it uses fails, it moves to the next node the cluster client knows of. on_ready fires
 * after every (re)subscription, wherever, so the owner drops what it may have missed.
 */
#ifndef SC_REDIS_SUBSCRIBER_H
#define SC_REDIS_SUBSCRIBER_H

#include "redis_client.h"
#include "redis_cluster.h"

typedef struct sc_redis_subscriber sc_redis_subscriber_t;

/**
 * Subscribes to `channel` on the cluster client's first node. `cluster`, `channel` and
 * `callbacks` must outlive the subscriber.
 */
sc_redis_subscriber_t *sc_redis_subscriber_create(h2o_evloop_t *loop, sc_redis_cluster_t *cluster, const char *channel,
                                                  const sc_redis_client_callbacks_t *callbacks, void *data);

void sc_redis_subscriber_destroy(sc_redis_subscriber_t *sub);

/**
 * 1 while subscribed. Thread-safe.
 */
int sc_redis_subscriber_is_ready(const sc_redis_subscriber_t *sub);

#endif
