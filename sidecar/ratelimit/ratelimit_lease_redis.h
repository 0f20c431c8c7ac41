/*
 * ratelimit_lease_redis: the one Redis script behind leases (ratelimit_lease_budget.h). In one
 * atomic call it gives back a holder's unused tokens and takes up to `want` more from the
 * tenant's GCRA state (beyond what waiting requests need, only a share of what is left) (the same TAT key and daily quota counter
 * as ratelimit_redis, so the two agree), and notes the holder in a sorted set of holders seen lately, whose size sizes leases.
 * Redis's own clock (TIME) decides; every key is the tenant's (one hash tag: Cluster-safe).
 *
 * Sent with EVALSHA, retried once with EVAL after NOSCRIPT (restart, failover, SCRIPT FLUSH).
 */
#ifndef SC_RATELIMIT_LEASE_REDIS_H
#define SC_RATELIMIT_LEASE_REDIS_H

#include "ratelimit_lease_budget.h"
#include "redis_cluster.h"

/* How long a holder counts as "seen lately" after its last acquire. */
#define SC_RATELIMIT_LEASE_HOLDER_WINDOW_MS 2000

typedef struct sc_ratelimit_lease_call {
    const char *rate_key;    /* the GCRA TAT */
    const char *holders_key; /* the holders seen lately, in the rate key's slot */
    const char *quota_key;   /* the day's counter, NULL without a quota */
    const char *holder;      /* this worker's id */
    sc_gcra_limit_t limit;
    uint64_t quota;
    uint64_t need;      /* tokens for requests waiting now: granted first, as far as the bucket has them */
    uint64_t want;      /* tokens to take in all (0: give back only), need included */
    uint64_t give_back; /* unused tokens returned first */
} sc_ratelimit_lease_call_t;

/* err is NULL on success; otherwise grant is NULL and the tokens given back may be lost. */
typedef void (*sc_ratelimit_lease_redis_cb)(void *data, const sc_ratelimit_lease_grant_t *grant, const char *err);

/**
 * Sends the call (strings are copied). Returns -1 when it cannot be sent (cb not called), else 0
 * and cb runs exactly once.
 */
int sc_ratelimit_lease_redis_call(sc_redis_cluster_t *client, const sc_ratelimit_lease_call_t *call, sc_ratelimit_lease_redis_cb cb,
                                  void *data);

#endif
