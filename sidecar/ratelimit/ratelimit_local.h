/*
 * ratelimit_local: the limits of one sidecar process, shared by its worker threads, so that a
 * tenant gets its rate once per sidecar and not once per thread, exactly.
 *
 * No lock is shared between keys: the table is cut into small buckets, each with its own mutex,
 * and a decision holds the lock of its key's bucket for one GCRA step (tens of nanoseconds,
 * never I/O). Two threads wait for each other only when their keys share a bucket, or are the
 * same key (whose decisions must be serialised anyway for the limit to be exact).
 *
 * Entries whose bucket is full again (TAT in the past) and whose quota day is over carry no
 * information, so the table drops them as it nears its bound, a few buckets per insertion:
 * it stays bounded without ever forgetting a limit that is in force, and never sweeps the
 * whole table.
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

/* A table of at most `max_entries` keys (1..2^24), allocated once. */
sc_ratelimit_local_t *sc_ratelimit_local_create(size_t max_entries);

void sc_ratelimit_local_destroy(sc_ratelimit_local_t *limits);

/**
 * Decides one request for `key` at monotonic time `now_ns`, in UTC day `day` (days since the
 * epoch, for the daily quota; quota 0 means none). Thread-safe. When every entry the call may
 * examine holds a limit in force and the table is at its bound, a new key is refused (never let
 * through unlimited).
 */
sc_limit_decision_t sc_ratelimit_local_decide(sc_ratelimit_local_t *limits, const char *key, size_t len, sc_gcra_limit_t limit,
                                              uint64_t quota, uint64_t now_ns, uint64_t day);

/* The number of keys held (a snapshot). */
size_t sc_ratelimit_local_size(sc_ratelimit_local_t *limits);

#endif
