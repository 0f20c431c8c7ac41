/*
 * response_filter: the last look at every response before its head is written.
 *
 *  - Every response carries X-Request-Id.
 *  - Errors sent before any handler ran (http1_server.h refusing a head: 400, 413, 417) are
 *    turned into the JSON contract (413 payload_too_large...). (The 502 and 504 of a failing
 *    backend are upstream.h's own, in the contract already.)
 *  - RateLimit fields go on every response to a counted request but the sidecar's 502/504.
 *
 * A backend's own responses, including its own 502s, pass through untouched.
 */
#ifndef SC_RESPONSE_FILTER_H
#define SC_RESPONSE_FILTER_H

#include <h2o.h>

#include "request.h"

/**
 * Makes the filter see the request's response as it starts, whoever produces it (the sidecar's
 * pipeline, or upstream.h relaying the backend or failing). Call right after sc_request_attach.
 */
void sc_response_filter_watch(sc_request_t *r);

/**
 * The request state if `prefilter` is ours, else NULL.
 */
sc_request_t *sc_response_filter_request_of(h2o_req_prefilter_t *prefilter);

/**
 * Registers the filter that handles responses sent before any handler ran (400, 413, 417): to be
 * called on each host's fallback path.
 */
void sc_response_filter_register_fallback(h2o_pathconf_t *fallback);

#endif
