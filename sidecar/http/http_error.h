/*
 * http_error: the error responses of the HTTP contract:
 *
 *     {"error":"<code>","message":"<human text>","request_id":"<id>"[,"reason":"<machine code>"]}
 *
 * with Content-Type application/json and Cache-Control no-store. Every error the sidecar
 * produces (upstream.c's 502 and 504 included), and every error the HTTP/1 server produces before any handler (400, 413, 417:
 * http1_server.h), goes through here.
 */
#ifndef SC_HTTP_ERROR_H
#define SC_HTTP_ERROR_H

#include <h2o.h>

/**
 * The JSON body, allocated in `pool`. `reason` may be NULL.
 */
h2o_iovec_t sc_http_error_body(h2o_mem_pool_t *pool, const char *error, const char *reason, const char *message,
                               const char *request_id);

/**
 * The error code of the contract for a status ("not_found" for 404...).
 */
const char *sc_http_error_code_for_status(int status);

/**
 * The reason phrase for a status ("Not Found").
 */
const char *sc_http_error_status_phrase(int status);

/**
 * Sets status and JSON headers and sends the body. Headers already in req->res.headers (such as
 * WWW-Authenticate or Retry-After) are kept.
 */
void sc_http_error_send(h2o_req_t *req, int status, const char *reason, const char *message, const char *request_id);

#endif
