/*
 * ratelimit_lease_budget: the arithmetic of one lease, a share of a tenant's Redis-held budget
 * that one worker spends locally. Pure functions of the state and a clock, so that sizing and
 * spending are tested without Redis (the table, the queue and the Redis calls: ratelimit_lease.c).
 *
 * Tokens leave the shared bucket (Redis) before they are spent here, so a lease can only make the
 * limit stricter, never looser: what a worker holds and has not spent is what the other sidecars
 * cannot have. That is why leases are small and short-lived:
 *
 *  - sized from demand: what this worker spent per SC_RATELIMIT_LEASE_PERIOD_NS lately;
 *  - capped by the limit and the number of holders seen lately (K): at most
 *    min(burst / 2, rate x period) / K tokens each, so what all holders keep unspent stays under
 *    half the burst and a quarter second of rate, whatever K; and Redis grants beyond what
 *    waiting requests need only a quarter of what the bucket has left, divided by K, so that a
 *    tenant near its limit gets near-exact decisions (ratelimit_lease_redis.h);
 *  - given back: every period, what was not spent in it (or all of it, when nothing was).
 *
 * A refusal from Redis (the bucket is short) is remembered until the next token is due (at most a
 * period): meanwhile this worker refuses without asking, which is exact since no token can appear
 * sooner, except one given back early by another holder (then the refusal errs the strict way).
 */
#ifndef SC_RATELIMIT_LEASE_BUDGET_H
#define SC_RATELIMIT_LEASE_BUDGET_H

#include <stdint.h>

#include "ratelimit_local.h"

/* A lease's life: rebalanced (unused tokens given back) once per period. */
#define SC_RATELIMIT_LEASE_PERIOD_NS 250000000ULL

/* What Redis answered to an acquire. */
typedef struct sc_ratelimit_lease_grant {
    uint64_t granted;        /* tokens taken for this worker (0..asked) */
    uint64_t remaining;      /* left in the shared bucket after the grant */
    uint64_t retry_after_ns; /* when short: until the next token is due */
    uint64_t reset_ns;       /* until the shared bucket is full again */
    uint64_t holders;        /* workers that acquired this budget lately, this one included */
    int short_of_tokens;     /* the bucket (or the quota) is empty after the grant */
    int quota_exhausted;     /* ...the daily quota */
} sc_ratelimit_lease_grant_t;

typedef struct sc_ratelimit_lease_budget {
    sc_gcra_limit_t limit; /* what the tokens were taken under */
    uint64_t quota;
    uint64_t day;
    uint64_t tokens;           /* taken from Redis, not yet spent */
    uint64_t shared_remaining; /* the shared bucket's remainder at the last grant */
    uint64_t reset_at_ns;      /* when the shared bucket is full again, as of the last grant */
    uint64_t refused_until_ns; /* refuse without asking until then (0: not refusing) */
    uint64_t retry_at_ns;      /* when the next token is due, for Retry-After */
    int quota_exhausted;       /* the refusal is the daily quota's */
    uint64_t holders;          /* K, as last seen */
    uint64_t acquired_at_ns;   /* the last acquire, 0 before the first */
    uint64_t spent_since_acquire;
    uint64_t spent_period; /* since the last rebalance */
} sc_ratelimit_lease_budget_t;

typedef enum {
    SC_RATELIMIT_LEASE_SPENT,   /* admitted from the lease */
    SC_RATELIMIT_LEASE_REFUSED, /* refused locally: Redis said the bucket is short, recently */
    SC_RATELIMIT_LEASE_EMPTY,   /* neither: ask Redis */
} sc_ratelimit_lease_outcome_t;

/* A fresh budget: no tokens, one holder, nothing known. */
void sc_ratelimit_lease_budget_init(sc_ratelimit_lease_budget_t *b, sc_gcra_limit_t limit, uint64_t quota, uint64_t day);

/* Whether a request under (limit, quota, day) may use this budget: a changed limit or a new UTC
 * day starts a fresh one, so that a rate change applies at the next request. */
int sc_ratelimit_lease_budget_matches(const sc_ratelimit_lease_budget_t *b, sc_gcra_limit_t limit, uint64_t quota, uint64_t day);

/* Decides one request from the lease when it can; fills *d unless EMPTY. */
sc_ratelimit_lease_outcome_t sc_ratelimit_lease_budget_spend(sc_ratelimit_lease_budget_t *b, uint64_t now_ns,
                                                             sc_limit_decision_t *d);

/* The most one holder may take at once: min(burst / 2, rate x period) / holders, at least 1. */
uint64_t sc_ratelimit_lease_budget_cap(sc_gcra_limit_t limit, uint64_t holders);

/* How many tokens to ask for, with `queued` requests waiting: a period of the demand seen since
 * the last acquire (capped), and never fewer than the waiting requests need. Notes the acquire. */
uint64_t sc_ratelimit_lease_budget_want(sc_ratelimit_lease_budget_t *b, uint64_t now_ns, uint64_t queued);

/* Adds what Redis granted (its durations counted from the acquire's send, noted by _want); an
 * empty bucket starts a local refusal. */
void sc_ratelimit_lease_budget_granted(sc_ratelimit_lease_budget_t *b, const sc_ratelimit_lease_grant_t *g, uint64_t now_ns);

/* The periodic rebalance: returns how many tokens to give back now (and no longer holds them). */
uint64_t sc_ratelimit_lease_budget_rebalance(sc_ratelimit_lease_budget_t *b);

/* Nothing held, nothing refused at `now`: the budget could be forgotten. */
int sc_ratelimit_lease_budget_idle(const sc_ratelimit_lease_budget_t *b, uint64_t now_ns);

#endif
