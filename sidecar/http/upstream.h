/*
 * upstream: one proxied exchange with a service's backend, over HTTP/1.1 on a connection of the
 * worker's pool (upstream_pool.h): the request written in one writev (head and body), the
 * response parsed (http1_parse.h) and streamed to the client through h2o's generator API as it
 * arrives.
 *
 *  - Backpressure: the body is read into a buffer while the previous part is being written to the
 *    client; once that buffer holds SC_UPSTREAM_WINDOW bytes the backend socket stops being read
 *    until the client has taken the previous part. A request never holds more than about two
 *    windows (plus one socket read) whatever the speeds of the two sides.
 *  - Retry: a request sent on a reused connection that the backend closed before any byte of the
 *    response arrived is sent once more, on a new connection, when its method is idempotent or
 *    when none of it was written; never otherwise (a POST that went out gets 502).
 *  - Errors, before the response head went out: 502 bad_gateway upstream_unavailable (refused,
 *    closed, malformed or ambiguous response), 504 gateway_timeout upstream_timeout (timeout_s
 *    passed waiting to connect, for the head, or between two reads). After it: the client's
 *    connection is closed without the end of the body, so a truncated response never looks whole.
 *  - Headers: hop-by-hop ones (and those Connection names) are removed both ways; Server and the
 *    backend's own errors pass through; Date is h2o's.
 */
#ifndef SC_UPSTREAM_H
#define SC_UPSTREAM_H

#include "request.h"

/* Bytes of a response body read ahead of the client, per request. */
#define SC_UPSTREAM_WINDOW (128 * 1024)

/**
 * Forwards the request (already prepared by forward.h) to its service's backend and relays the
 * response; r->proxy_failed is set when the sidecar answers 502/504 itself.
 */
void sc_upstream_forward(sc_request_t *r);

#endif
