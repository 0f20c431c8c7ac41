/*
 * ratelimit_redis: the same GCRA decision as ratelimit_local, made by Redis in one atomic Lua
 * script, so that a tenant's limit holds across every sidecar sharing that Redis. The script
 * reads Redis's own clock (TIME), so the hosts' clocks do not matter; it touches only the
 * tenant's keys (one hash tag: Cluster-safe); refused requests change nothing.
 *
 * Sent with EVALSHA; after a Redis restart or failover the script cache is empty (NOSCRIPT), so
 * the same call is retried once with EVAL, which also reloads the script.
 */
#ifndef SC_RATELIMIT_REDIS_H
#define SC_RATELIMIT_REDIS_H

#include "ratelimit_local.h"
#include "redis_cluster.h"

/* err is NULL on success; otherwise the caller decides locally. */
typedef void (*sc_ratelimit_redis_cb)(void *data, const sc_limit_decision_t *decision, const char *err);

/**
 * Asks Redis. `rate_key` and `quota_key` (NULL without a quota) must be in the same hash slot.
 * Returns -1 when the client is not ready (cb not called), else 0 and cb runs exactly once.
 */
int sc_ratelimit_redis_decide(sc_redis_cluster_t *client, const char *rate_key, const char *quota_key, sc_gcra_limit_t limit,
                              uint64_t quota, sc_ratelimit_redis_cb cb, void *data);

#endif
