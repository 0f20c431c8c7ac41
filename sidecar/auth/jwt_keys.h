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

struct sc_worker;

/* How long a request waits for an early key refresh before it is refused as unknown_key. */
#define SC_JWT_KEYS_WAIT_MS 3000

typedef struct sc_jwt_keys_worker {
    h2o_multithread_receiver_t updates; /* from the refresher's thread */
    h2o_linklist_t waits;               /* requests waiting for a refresh */
    h2o_timeout_t wait_timeout;
} sc_jwt_keys_worker_t;

typedef void (*sc_jwt_keys_resume_cb)(sc_request_t *r, h2o_iovec_t token);

/**
 * Sets up the worker's part (its loop and its queue must exist). Worker initialisation only.
 */
void sc_jwt_keys_worker_init(struct sc_worker *worker);

/**
 * The keyring sc_jwt_verify_ex takes: the worker's current sets. Valid on the worker's thread
 * until its loop runs again.
 */
sc_jwt_keyring_t sc_jwt_keys_ring(struct sc_worker *worker);

/**
 * Suspends the request until `source` has been fetched (sc_jwks_source_request_refresh said a
 * fetch is coming) or the deadline passes, then calls resume(r, token) on the worker's loop.
 * `token` must live in the request's pool; nothing is called when the request is gone by then.
 * Returns 0, or -1 when out of memory (the request goes on without waiting).
 */
int sc_jwt_keys_wait(sc_request_t *r, sc_jwks_source_t *source, h2o_iovec_t token, sc_jwt_keys_resume_cb resume);

/**
 * The refresher's notify callback (data: the sc_server_t): tells every worker. Any thread.
 */
void sc_jwt_keys_notify(void *server, sc_jwks_source_t *source, sc_jwks_set_t *set);

#endif
