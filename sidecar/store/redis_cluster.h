/*
 * redis_cluster: the commands of one worker, routed to the Redis node that serves their key.
 *
 * Standalone (redis.cluster false) it is one sc_redis_client_t and nothing more: every command
 * goes to it unchanged. In cluster mode it keeps the slot map (CLUSTER SLOTS from the seed at
 * start, again after a MOVED or a lost node, at most every 100 ms) and one sc_redis_client_t per
 * master node, made when first needed. A command is sent to the node of its key's slot; a MOVED
 * corrects the map and sends it again there, an ASK sends ASKING and the command to the
 * importing node once; at most 3 redirections, all within the deadline one command has
 * standalone (its wait for a connection plus timeout_ms). The callback runs exactly once.
 */
#ifndef SC_REDIS_CLUSTER_H
#define SC_REDIS_CLUSTER_H

#include <h2o.h>

#include "redis_client.h"
#include "redis_config.h"

#define SC_REDIS_CLUSTER_MAX_REDIRECTS 3

typedef struct sc_redis_cluster sc_redis_cluster_t;

/**
 * Creates the client (cluster mode when config->cluster) and starts connecting. `config` must
 * outlive it.
 */
sc_redis_cluster_t *sc_redis_cluster_create(h2o_evloop_t *loop, const sc_redis_config_t *config);

/**
 * Closes every connection; pending commands complete with an error.
 */
void sc_redis_cluster_destroy(sc_redis_cluster_t *cluster);

/**
 * As sc_redis_client_command, routed by `key` (the key the command touches; every key of one
 * command must share its slot, as a tenant's keys do). `key` NULL: any node.
 */
int sc_redis_cluster_command(sc_redis_cluster_t *cluster, const char *key, size_t key_len, sc_redis_reply_cb cb, void *data,
                             int argc, const char **argv, const size_t *argvlen);

/**
 * 1 while commands can be sent: the connection (standalone), at least one node (cluster).
 * Thread-safe.
 */
int sc_redis_cluster_is_ready(const sc_redis_cluster_t *cluster);

/**
 * Adds the counters of the commands' connections (connects, failures, timeouts, errors) to `sum`.
 * Any thread (/metrics).
 */
void sc_redis_cluster_add_stats(const sc_redis_cluster_t *cluster, sc_redis_client_stats_t *sum);

/**
 * The connection settings of the n-th known node (0: the configured one), for a subscriber that
 * moves to another node when one fails; NULL past the last. Owned by the cluster client.
 */
const sc_redis_config_t *sc_redis_cluster_node_config(sc_redis_cluster_t *cluster, size_t n);

#endif
