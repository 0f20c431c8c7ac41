/*
 * redis_client: one Redis connection on a worker's event loop that looks after itself:
 * connects (with a timeout), authenticates (Redis 6+ ACL user and password), selects the
 * database, checks liveness with PING, and reconnects with exponential backoff after any
 * failure. Commands have a deadline: the callback always runs exactly once, with the reply or
 * with an error, and never blocks the loop.
 *
 * In subscriber mode the connection SUBSCRIBEs to one channel and delivers its messages;
 * because Pub/Sub is fire-and-forget, on_ready fires again after every reconnection so the
 * owner can drop whatever it may have missed.
 */
#ifndef SC_REDIS_CLIENT_H
#define SC_REDIS_CLIENT_H

#include <h2o.h>
#include <hiredis/hiredis.h>
#include <stdint.h>

#include "redis_config.h"

typedef struct sc_redis_client sc_redis_client_t;

/* err is NULL on success; otherwise reply is NULL. An error reply from Redis (e.g. NOSCRIPT) is
 * a reply (REDIS_REPLY_ERROR), not an err. */
typedef void (*sc_redis_reply_cb)(redisReply *reply, void *data, const char *err);

typedef struct sc_redis_client_callbacks {
    void (*on_ready)(sc_redis_client_t *client, void *data);                 /* connected, authenticated (and subscribed) */
    void (*on_down)(sc_redis_client_t *client, void *data, const char *why); /* the connection was lost or refused */
    void (*on_message)(sc_redis_client_t *client, void *data, const char *payload, size_t len); /* subscriber mode */
} sc_redis_client_callbacks_t;

/* Counters for metrics; only the owning thread writes them. */
typedef struct sc_redis_client_stats {
    uint64_t connects; /* successful handshakes */
    uint64_t failures; /* connections lost or refused */
    uint64_t timeouts; /* commands that missed their deadline */
    uint64_t errors;   /* error replies and lost commands */
} sc_redis_client_stats_t;

/**
 * Creates a client and starts connecting. `subscribe_channel` NULL means command mode. `config`
 * and `callbacks` must outlive the client.
 */
sc_redis_client_t *sc_redis_client_create(h2o_evloop_t *loop, const sc_redis_config_t *config, const char *subscribe_channel,
                                          const sc_redis_client_callbacks_t *callbacks, void *data);

/**
 * Closes the connection; pending commands complete with an error.
 */
void sc_redis_client_destroy(sc_redis_client_t *client);

/**
 * 1 while connected, authenticated (and subscribed). Thread-safe: /ready asks from any thread.
 */
int sc_redis_client_is_ready(const sc_redis_client_t *client);

const sc_redis_client_stats_t *sc_redis_client_stats(const sc_redis_client_t *client);

/**
 * Adds the client's counters to `sum`, from any thread (each read is atomic; the set is not a
 * snapshot).
 */
void sc_redis_client_add_stats(const sc_redis_client_t *client, sc_redis_client_stats_t *sum);

/**
 * Sends a command. When the connection is being made (at start-up, or again after a failure),
 * the command waits for it: at most connect_timeout_ms before the client's first connection,
 * timeout_ms after that; once sent it has timeout_ms for its reply. Returns -1 without calling
 * `cb` when it cannot be sent in time (the next connection attempt is further away than that
 * deadline, too many commands wait already, or out of memory): the caller decides at once —
 * serve stale data, fall back, or 503. Otherwise 0, and `cb` runs exactly once: with the reply,
 * or with "timeout", "not connected" or "connection lost".
 */
int sc_redis_client_command(sc_redis_client_t *client, sc_redis_reply_cb cb, void *data, int argc, const char **argv,
                            const size_t *argvlen);

#endif
