/*
 * ratelimit_local: the limits of one sidecar process, shared by its worker threads, so that a
 * tenant gets its rate once per sidecar and not once per thread. Each decision holds the table
 * lock for a few hundred nanoseconds and never waits on I/O.
 *
 * Entries whose bucket is full again (TAT in the past) and whose quota day is over carry no
 * information, so the table drops them when it reaches its bound: it stays bounded without
 * ever forgetting a limit that is in force.
 */
#ifndef SC_RATELIMIT_LOCAL_H
#define SC_RATELIMIT_LOCAL_H

#include <stddef.h>
#include <stdint.h>

#include "gcra.h"

typedef struct sc_ratelimit_local sc_ratelimit_local_t;

/* The outcome of one decision. quota_exhausted: refused by the daily quota, not by the rate. */
typedef struct sc_limit_decision {
    sc_gcra_result_t gcra;
    int quota_exhausted;
} sc_limit_decision_t;

sc_ratelimit_local_t *sc_ratelimit_local_create(size_t max_entries);

void sc_ratelimit_local_destroy(sc_ratelimit_local_t *limits);

/**
 * Decides one request for `key` at monotonic time `now_ns`, in UTC day `day` (days since the
 * epoch, for the daily quota; quota 0 means none). Thread-safe.
 */
sc_limit_decision_t sc_ratelimit_local_decide(sc_ratelimit_local_t *limits, const char *key, size_t len, sc_gcra_limit_t limit,
                                              uint64_t quota, uint64_t now_ns, uint64_t day);

size_t sc_ratelimit_local_size(sc_ratelimit_local_t *limits);

#endif
