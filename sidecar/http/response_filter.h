/*
 * response_filter: the last look at every response before its head is written.
 *
 *  - Every response carries X-Request-Id.
 *  - Errors that h2o produces by itself are turned into the JSON contract: the proxy's
 *    plain-text "502 Gateway Error" becomes 502 bad_gateway, or 504 gateway_timeout when the
 *    upstream I/O timeout fired; a body over max_body_bytes becomes 413 payload_too_large.
 *
 * A backend's own responses, including its own 502s, pass through untouched: a proxy failure is
 * recognised by the error h2o's proxy logs on the request just before it answers, which a
 * backend response never has.
 */
#ifndef SC_RESPONSE_FILTER_H
#define SC_RESPONSE_FILTER_H

#include <h2o.h>

#include "request.h"

/**
 * Makes the filter see the request's response as it starts, whoever produces it (the sidecar,
 * h2o's proxy relaying the backend, or the proxy failing). Call right after sc_request_attach.
 */
void sc_response_filter_watch(sc_request_t *r);

/**
 * The request state if `prefilter` is ours, else NULL.
 */
sc_request_t *sc_response_filter_request_of(h2o_req_prefilter_t *prefilter);

/**
 * Registers the filter that handles responses h2o sends before any handler ran (413, broken
 * chunked encoding): to be called on each host's fallback path.
 */
void sc_response_filter_register_fallback(h2o_pathconf_t *fallback);

#endif
