/*
 * jwks_refresher: keeps the key sets of issuers with `jwks_uri` or `discovery` fresh.
 *
 * Each such issuer has a source: the set last fetched (sc_jwks_set_t), when to fetch next, and
 * counters. One thread, the refresher's, does every fetch after start-up, so no event loop ever
 * waits on the network. After each fetch it calls the notify callback, which hands the new set to
 * every worker the way a reload hands over a configuration (a message on the worker's queue); a
 * worker switches its own reference (sc_jwks_refresher_source_use) and drops its verified-token cache, so a
 * key withdrawn by the provider stops verifying.
 *
 * A fetched set replaces the current one only when it is a usable JWK Set; otherwise the last
 * good set keeps serving and the failure is logged and counted. A set that changed is also
 * written to the issuer's jwks_cache_file, from which start-up proceeds when the provider cannot
 * be reached.
 *
 * Sources outlive configurations: a reload keeps the source (and its keys) of every issuer whose
 * key source did not change, and fetches the others before it is accepted.
 */
#ifndef SC_JWKS_REFRESHER_H
#define SC_JWKS_REFRESHER_H

#include <stddef.h>
#include <stdint.h>

#include "jwks_set.h"
#include "jwt.h"

typedef struct sc_jwks_refresher sc_jwks_refresher_t;
typedef struct sc_jwks_source sc_jwks_source_t;

/*
 * Called on the refresher's thread after every fetch: `set` is the new current set (borrowed:
 * retain it to keep it), or NULL when the fetch failed or brought nothing new. Either way,
 * requests waiting for this source may go on.
 */
typedef void (*sc_jwks_notify_cb)(void *data, sc_jwks_source_t *source, sc_jwks_set_t *set);

/**
 * A refresher for `num_workers` workers. Returns NULL when out of memory.
 */
sc_jwks_refresher_t *sc_jwks_refresher_create(unsigned num_workers, sc_jwks_notify_cb notify, void *data);

/**
 * Start-up and reload, on the main thread: gives every issuer with remote keys its source
 * (issuer->source), reusing the current one when its settings did not change and fetching the
 * others now (blocking; from jwks_cache_file when the provider cannot be reached). Sources no
 * configured issuer uses any more stop refreshing. Returns 0, or -1 with "jwt issuer X: reason"
 * in err and nothing changed.
 */
int sc_jwks_refresher_attach(sc_jwks_refresher_t *refresher, sc_jwt_issuers_t *issuers, char *err, size_t errsize);

/**
 * Starts the refresher's thread (after the workers exist: it sends them messages). Returns 0 or -1.
 */
int sc_jwks_refresher_start(sc_jwks_refresher_t *refresher);

/**
 * Stops the thread (an ongoing fetch is aborted) and frees everything. NULL is fine.
 */
void sc_jwks_refresher_free(sc_jwks_refresher_t *refresher);

/**
 * Stops the thread (aborting a fetch under way) and keeps the key sets: from then on nothing is
 * sent to the workers. sc_jwks_refresher_free stops it too.
 */
void sc_jwks_refresher_stop(sc_jwks_refresher_t *refresher);

/**
 * Worker side: the set worker `index` verifies with (NULL before any), and the switch to a new
 * one (a reference is taken; the previous one is released). Only worker `index` may call these.
 */
const sc_jwks_set_t *sc_jwks_refresher_source_current(const sc_jwks_source_t *source, unsigned index);
void sc_jwks_refresher_source_use(sc_jwks_source_t *source, unsigned index, sc_jwks_set_t *set);

/**
 * A token named a kid this source does not know: asks for an early fetch, at most one per
 * jwks_min_refresh_s. Returns 1 when a fetch is under way or about to start (the notify callback
 * will run), 0 when none may start now. Any thread.
 */
int sc_jwks_refresher_source_request_refresh(sc_jwks_source_t *source);

/* For the metrics: one line per issuer whose source is in use. */
typedef struct sc_jwks_source_stats {
    const char *issuer; /* lives as long as the refresher */
    uint64_t refreshes_ok, refreshes_failed;
    size_t num_keys;
    int64_t fetched_at; /* Unix seconds of the last successful fetch (or of the cache file) */
} sc_jwks_source_stats_t;

/**
 * Copies the statistics of up to `max` active sources into out; returns how many. Any thread.
 */
size_t sc_jwks_refresher_stats(sc_jwks_refresher_t *refresher, sc_jwks_source_stats_t *out, size_t max);

#endif
