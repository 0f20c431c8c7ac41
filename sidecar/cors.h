/*
 * cors: answers browser preflights from the policy's `cors:` section without credentials and
 * without the backend, and marks actual responses to an allowed origin (errors included, so a
 * browser can read a 401 or a 429).
 */
#ifndef SC_CORS_H
#define SC_CORS_H

#include <h2o.h>

#include "policy.h"

/**
 * 1 when the request is a CORS preflight: OPTIONS with Origin and Access-Control-Request-Method.
 * *requested_method receives the latter.
 */
int sc_cors_is_preflight(h2o_req_t *req, h2o_iovec_t *requested_method);

/**
 * The request's Origin when the policy allows it, else a NULL base.
 */
h2o_iovec_t sc_cors_allowed_origin(const sc_cors_t *cors, h2o_req_t *req);

/**
 * Answers a preflight: 204 with the Access-Control-Allow-* headers when origin, method and
 * requested headers are allowed; otherwise 403 without them (the browser then refuses).
 */
void sc_cors_answer_preflight(const sc_cors_t *cors, h2o_req_t *req, h2o_iovec_t origin, h2o_iovec_t requested_method,
                              const char *request_id);

/**
 * Adds Access-Control-Allow-Origin, Vary and Access-Control-Expose-Headers to a response.
 */
void sc_cors_decorate_response(h2o_req_t *req, h2o_iovec_t origin);

#endif
