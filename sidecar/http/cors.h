/*
 * cors: decides and answers browser preflights from the policy's `cors:` section without
 * credentials and without the backend, and marks actual responses to an allowed origin (errors included, so a
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
 * 1 when a preflight may be answered with the Access-Control-Allow-* headers: `origin` (from
 * sc_cors_allowed_origin) is allowed, and so are the requested method and every requested header.
 * A refusal is a denial like any other (cors_not_allowed): enforce answers it 403 without those
 * headers (the browser then refuses), report_only forwards the preflight.
 */
int sc_cors_preflight_allowed(const sc_cors_t *cors, h2o_req_t *req, h2o_iovec_t origin, h2o_iovec_t requested_method);

/**
 * Answers an allowed preflight: 204 with the Access-Control-Allow-* headers.
 */
void sc_cors_answer_preflight(const sc_cors_t *cors, h2o_req_t *req, h2o_iovec_t origin);

/**
 * Adds to an enforced refusal of a preflight what its answer needs besides the error (Vary).
 */
void sc_cors_refuse_preflight(h2o_req_t *req);

/**
 * Adds Access-Control-Allow-Origin, Vary and Access-Control-Expose-Headers to a response.
 */
void sc_cors_decorate_response(h2o_req_t *req, h2o_iovec_t origin);

#endif
