/*
 * jwt_keys: fetched JWT keys as one worker sees them (jwks_refresher.h keeps them fresh), and
 * requests that wait for an early refresh.
 *
 * A worker verifies with its own reference to each issuer's current key set. When the refresher
 * has fetched, a message on the worker's queue switches that reference and drops the worker's
 * verified-token cache (a key the provider withdrew must stop verifying; cached claims never
 * point into a key set, only into the configuration, which requests hold). Requests that met an
 * unknown kid and asked for an early refresh wait here, on the event loop, until the refresher
 * reports or SC_JWT_KEYS_WAIT_MS has passed; then they verify again, once.
 */
#ifndef SC_JWT_KEYS_H
#define SC_JWT_KEYS_H

#include <h2o.h>

#include "jwks_refresher.h"
#include "jwt.h"
#include "request.h"

struct sc_jwt_cache;

/* How long a request waits for an early key refresh before it is refused as unknown_key. */
#define SC_JWT_KEYS_WAIT_MS 3000

/* One worker's part: used on that worker's thread only (but for `updates`). */
typedef struct sc_jwt_keys_worker {
    unsigned index; /* the worker's: which of each source's current sets is its own */
    h2o_loop_t *loop;
    struct sc_jwt_cache *jwt_cache;     /* cleared when a key set changes; NULL when disabled */
    h2o_multithread_receiver_t updates; /* from the refresher's thread */
    h2o_linklist_t waits;               /* requests waiting for a refresh */
    h2o_timeout_t wait_timeout;
} sc_jwt_keys_worker_t;

/* Every worker's part: what the refresher's notifications go to. The server creates it. */
typedef struct sc_jwt_keys sc_jwt_keys_t;

typedef void (*sc_jwt_keys_resume_cb)(sc_request_t *r, h2o_iovec_t token);

/**
 * The parts of `workers` workers, not set up yet. NULL when out of memory.
 */
sc_jwt_keys_t *sc_jwt_keys_create(unsigned workers);

/**
 * Frees what sc_jwt_keys_create made: once the workers and the refresher have stopped.
 */
void sc_jwt_keys_free(sc_jwt_keys_t *keys);

/**
 * Sets up the part of worker `index` and returns it: its loop runs `queue`. Worker initialisation
 * only.
 */
sc_jwt_keys_worker_t *sc_jwt_keys_worker_init(sc_jwt_keys_t *keys, unsigned index, h2o_loop_t *loop, h2o_multithread_queue_t *queue,
                                              struct sc_jwt_cache *jwt_cache);

/**
 * Undoes sc_jwt_keys_worker_init: updates still queued are dropped. Call once the worker's loop
 * has stopped with no request waiting, and the refresher has stopped (nothing sends any more).
 */
void sc_jwt_keys_worker_dispose(sc_jwt_keys_worker_t *worker);

/**
 * The keyring sc_jwt_verify_ex takes: the worker's current sets. Valid on the worker's thread
 * until its loop runs again.
 */
sc_jwt_keyring_t sc_jwt_keys_ring(const sc_jwt_keys_worker_t *worker);

/**
 * Suspends the request until `source` has been fetched (sc_jwks_refresher_source_request_refresh said a
 * fetch is coming) or the deadline passes, then calls resume(r, token) on the worker's loop.
 * `token` must live in the request's pool; nothing is called when the request is gone by then.
 * Returns 0, or -1 when out of memory (the request goes on without waiting).
 */
int sc_jwt_keys_wait(sc_request_t *r, sc_jwks_source_t *source, h2o_iovec_t token, sc_jwt_keys_resume_cb resume);

/**
 * The refresher's notify callback (data: the sc_jwt_keys_t): tells every worker. Any thread.
 */
void sc_jwt_keys_notify(void *keys, sc_jwks_source_t *source, sc_jwks_set_t *set);

#endif
