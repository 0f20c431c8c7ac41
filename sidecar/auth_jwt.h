/*
 * auth_jwt: the JWT step of the pipeline. Verifies the bearer token (jwt.c) or finds it in the
 * worker's cache of verified tokens, and turns its claims into the request's identity, copied
 * into the request pool so that nothing outlives or is outlived by the cache.
 */
#ifndef SC_AUTH_JWT_H
#define SC_AUTH_JWT_H

#include "identity.h"
#include "request.h"

/**
 * Returns NULL when the token is valid (r->identity is then filled), else the 401 denial.
 */
const sc_denial_t *sc_auth_jwt(sc_request_t *r, h2o_iovec_t token);

#endif
