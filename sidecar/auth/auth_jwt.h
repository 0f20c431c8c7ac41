/*
 * auth_jwt: the JWT step of the pipeline. Verifies the bearer token (jwt.c) or finds it in the
 * worker's cache of verified tokens, and turns its claims into the request's identity, copied
 * into the request pool so that nothing outlives or is outlived by the cache.
 */
#ifndef SC_AUTH_JWT_H
#define SC_AUTH_JWT_H

#include "identity.h"
#include "request.h"

/* Returned by sc_auth_jwt when the request waits for fetched keys: `resume` will run. */
extern const sc_denial_t sc_auth_jwt_waiting;

/**
 * Returns NULL when the token is valid (r->identity is then filled), else the 401 denial. When
 * `resume` is not NULL and the token names a kid its issuer's fetched keys lack, an early refresh
 * may be asked for (jwt_keys.h): the answer is then sc_auth_jwt_waiting and resume(r, token)
 * runs later on the worker's loop, where it calls sc_auth_jwt again with resume NULL.
 */
const sc_denial_t *sc_auth_jwt(sc_request_t *r, h2o_iovec_t token, void (*resume)(sc_request_t *r, h2o_iovec_t token));

#endif
