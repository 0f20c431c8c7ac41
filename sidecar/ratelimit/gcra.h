/*
 * gcra: the Generic Cell Rate Algorithm, the rate limiter's arithmetic.
 *
 * One number per limited key, the theoretical arrival time (TAT): when the bucket would be
 * empty again if no more requests came. A request at `now` is admitted when
 * max(TAT, now) + T - now <= burst * T, where T = 1 s / rate; admitting moves TAT forward by T,
 * refusing leaves it alone (refused requests consume nothing). So `burst` requests pass at once
 * and then one every T.
 *
 * Times are nanoseconds of a monotonic clock held in uint64_t: no overflow for 584 years. T is
 * 1e9 / rate rounded down, so the limit errs by at most one nanosecond per request in the
 * client's favour: 1e-9 relative, no drift over any uptime.
 */
#ifndef SC_GCRA_H
#define SC_GCRA_H

#include <stdint.h>

#define SC_GCRA_MAX_RATE 1000000
#define SC_GCRA_MAX_BURST 1000000

typedef struct sc_gcra_limit {
    uint64_t rate;  /* requests per second, 1..SC_GCRA_MAX_RATE */
    uint64_t burst; /* 1..SC_GCRA_MAX_BURST */
} sc_gcra_limit_t;

typedef struct sc_gcra_result {
    int allowed;
    uint64_t remaining;      /* requests that could still pass right now */
    uint64_t retry_after_ns; /* when refused: how long until one would pass */
    uint64_t reset_ns;       /* how long until the bucket is full again */
} sc_gcra_result_t;

/**
 * Decides one request and, when it is admitted, returns the new TAT in *new_tat (unchanged
 * otherwise). `tat` 0 means "never seen".
 */
sc_gcra_result_t sc_gcra_decide(uint64_t tat, uint64_t now_ns, sc_gcra_limit_t limit, uint64_t *new_tat);

#endif
