/*
 * upstream: one proxied exchange with a service's backend, over HTTP/1.1 on a connection of the
 * worker's pool (upstream_pool.h): the request head written with whatever of the body has
 * arrived, the rest of the body as the client sends it (http1_server.h), the response parsed
 * (http1_parse.h) and streamed to the client through h2o's generator API as it arrives.
 *
 *  - Backpressure, request: a part of the body is written to the backend before the client's
 *    socket is read again (http1_server.h holds it in place). Content-Length bodies keep their
 *    length; chunked ones are re-encoded chunked, part by part.
 *  - Backpressure, response: the body is read into a buffer while the previous part is being
 *    written to the client; once that buffer holds SC_UPSTREAM_WINDOW bytes the backend socket
 *    stops being read until the client has taken the previous part. A request never holds more
 *    than about two windows (plus one socket read) whatever the speeds of the two sides.
 *  - Retry: a request sent on a reused connection that the backend closed before any byte of the
 *    response arrived is sent once more, on a new connection, when its method is idempotent or
 *    when none of it was written, and none of its body was consumed; never otherwise (a POST that
 *    went out gets 502).
 *  - Errors, before the response head went out: 502 bad_gateway upstream_unavailable (refused,
 *    closed, malformed or ambiguous response), 504 gateway_timeout upstream_timeout (timeout_s
 *    passed waiting to connect, for the head, or with no progress writing or reading; not while
 *    the client is the one being waited for); the client's body failing: 413, 400 body_malformed,
 *    408, 400 body_incomplete, and the backend's connection closed. After the head went out: the
 *    client's connection is closed without the end of the body, so a truncated response never
 *    looks whole.
 *  - Headers: hop-by-hop ones (and those Connection names) are removed both ways; Server and the
 *    backend's own errors pass through; Date is the sidecar's.
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
