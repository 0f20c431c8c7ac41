/*
 * ratelimit_lease: `mode: redis` without a Redis round trip per request. Each worker holds, per
 * budget (tenant, or tenant and service), a small lease of tokens taken from the tenant's shared
 * GCRA state in Redis (ratelimit_lease_redis.h) and spends it on its own loop, with no lock and
 * no I/O; the arithmetic (sizing, spending, giving back) is ratelimit_lease_budget.h.
 *
 *  - A request spends from the lease synchronously when it holds a token, and is refused
 *    synchronously while Redis's last answer says the shared bucket is short.
 *  - Otherwise it waits for the one acquire in flight for its budget (a bounded queue: never a
 *    herd of script calls); the grant serves the queue in order.
 *  - Every SC_RATELIMIT_LEASE_PERIOD_NS the worker gives back what it did not spend (one call
 *    per budget that has some), and forgets budgets with nothing held.
 *
 * The table belongs to one worker thread: everything here runs on its loop. Its Redis calls are
 * made on the client passed with each request (the worker's); destroy the table after that
 * client, whose pending calls complete into it.
 */
#ifndef SC_RATELIMIT_LEASE_H
#define SC_RATELIMIT_LEASE_H

#include <h2o.h>
#include <stdint.h>

#include "ratelimit_lease_budget.h"
#include "redis_cluster.h"

typedef struct sc_ratelimit_lease_table sc_ratelimit_lease_table_t;

/* Written by the owning thread only, read by the metrics scrape with relaxed atomics. */
typedef struct sc_ratelimit_lease_stats {
    uint64_t acquires; /* script calls that took tokens (possibly giving some back too) */
    uint64_t returns;  /* script calls that only gave unused tokens back */
    uint64_t alone;    /* per-request script calls, for requests that could not wait on a lease */
    uint64_t local;    /* decisions made from a lease, without Redis */
} sc_ratelimit_lease_stats_t;

/* The budget a request draws on. Strings are copied when kept. */
typedef struct sc_ratelimit_lease_key {
    const char *rate_key;    /* PREFIX{T}:rl[:SERVICE] */
    const char *holders_key; /* PREFIX{T}:lh[:SERVICE] */
    const char *quota_key;   /* PREFIX{T}:quota:YYYYMMDD, NULL without a quota */
    sc_gcra_limit_t limit;
    uint64_t quota;
    uint64_t day; /* UTC days since the epoch: a new day starts a new lease */
} sc_ratelimit_lease_key_t;

/* Receives a waiting request's decision (NULL: Redis could not answer, decide locally). Returns 0
 * when the request is gone, so that a token it was given goes back to the lease. */
typedef int (*sc_ratelimit_lease_cb)(void *data, const sc_limit_decision_t *decision, const char *err);

sc_ratelimit_lease_table_t *sc_ratelimit_lease_create(h2o_evloop_t *loop);

void sc_ratelimit_lease_destroy(sc_ratelimit_lease_table_t *table);

/**
 * `now_ns` is CLOCK_MONOTONIC, in nanoseconds. Decides from the lease when it can (returns 1, *decision filled); 0 means "ask
 * Redis": call sc_ratelimit_lease_wait.
 */
int sc_ratelimit_lease_decide(sc_ratelimit_lease_table_t *table, const sc_ratelimit_lease_key_t *key, uint64_t now_ns,
                              sc_limit_decision_t *decision);

/**
 * Queues the request on its budget's acquire, sending one unless one is in flight. Returns 0 and
 * `cb` runs exactly once later; -1 when it cannot (queue or table full, Redis not reachable):
 * the caller decides another way, cb is not called.
 */
int sc_ratelimit_lease_wait(sc_ratelimit_lease_table_t *table, sc_redis_cluster_t *client, const sc_ratelimit_lease_key_t *key,
                            uint64_t now_ns, sc_ratelimit_lease_cb cb, void *data);

/**
 * Gives back every unspent token now (best effort: the calls are sent, their replies not awaited).
 * For a worker that stops: tokens it took with it would be lost to the others until the bucket
 * refills, and for the rest of the day for a daily quota.
 */
void sc_ratelimit_lease_give_back_all(sc_ratelimit_lease_table_t *table);

/* Counts a per-request script call made because the lease could not be waited on. */
void sc_ratelimit_lease_count_alone(sc_ratelimit_lease_table_t *table);

/* Adds the table's counters to *sum (read from any thread). */
void sc_ratelimit_lease_add_stats(const sc_ratelimit_lease_table_t *table, sc_ratelimit_lease_stats_t *sum);

#endif
