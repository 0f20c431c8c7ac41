/*
 * request: the sidecar's state for one request, from the handler until the response is sent.
 *
 * It is allocated in the request's pool (it dies with the request) and doubles as an h2o
 * "prefilter", so that it sees the response as it starts, whoever produces it: the sidecar
 * itself, h2o's proxy relaying the backend, or h2o's proxy failing (response_filter.c).
 */
#ifndef SC_REQUEST_H
#define SC_REQUEST_H

#include <h2o.h>

#include "config.h"
#include "request_id.h"

struct sc_worker;

typedef struct sc_request {
    h2o_req_prefilter_t prefilter; /* first member: h2o hands it back to us */
    h2o_req_t *req;
    struct sc_worker *worker;
    h2o_handler_t *handler; /* ours; the proxy handler follows it */
    const sc_service_t *service;
    const sc_route_t *route; /* NULL until matched */
    char id[SC_REQUEST_ID_LEN + 1];
} sc_request_t;

#endif
