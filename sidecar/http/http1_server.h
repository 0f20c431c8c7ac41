/*
 * http1_server: the sidecar's HTTP/1.1 server side, on libh2o's event loop, sockets (TLS
 * included), timers and memory pools, in place of libh2o 2.2.5's own HTTP/1 server, which reads a
 * request's whole body before any handler sees the request.
 *
 * A connection reads a request head (at most SC_HTTP1_SERVER_MAX_HEAD bytes, within the context's
 * http1 request timeout), parses it strictly (http1_parse.h: what could be read two ways is
 * refused with 400 before any handler runs), and hands it to h2o's handlers as an h2o_req_t:
 * routing, filters, loggers and the generator API work as with libh2o's server. The response is
 * written by this module (its final output stream).
 *
 * The body is not read until a handler asks for it (sc_http1_server_read_body), and then one part
 * at a time: each part points into the connection's input buffer and stays valid until the
 * handler says it is done with it (sc_http1_server_body_consumed); the socket is not read
 * meanwhile. With the socket's receive buffer bounded, a request never holds more than
 * SC_HTTP1_SERVER_WINDOW bytes of its body, whatever the speeds of client and backend. A request
 * answered without its body being read (refused by the policy) closes its connection after the
 * response. Expect: 100-continue is answered when the body is first asked for.
 *
 * A client that stops reading a response is closed once a write to it has made no progress for
 * the send timeout (the host's client_send_timeout_s), its backend exchange abandoned.
 *
 * Connections are this thread's: each worker serves its own, and closes its idle ones when it
 * drains (sc_http1_server_close_idle).
 */
#ifndef SC_HTTP1_SERVER_H
#define SC_HTTP1_SERVER_H

#include <h2o.h>
#include <stdint.h>

#include "http1_parse.h"

/* Request heads longer than this are refused with 400 (API Gateway sends at most 10 KiB of
 * headers; libh2o's own limit was 408 KiB). */
#define SC_HTTP1_SERVER_MAX_HEAD (64 * 1024)
/* Bytes read ahead from a client: its socket's receive buffer, and what is read before a
 * handler asks for the body. */
#define SC_HTTP1_SERVER_WINDOW (128 * 1024)

/* Why a body ended before its end: passed to the body callback as `err`. */
extern const char sc_http1_body_too_large[]; /* over max_request_entity_size: 413 */
extern const char sc_http1_body_malformed[]; /* broken chunked encoding: 400 */
extern const char sc_http1_body_timeout[];   /* the client sent nothing for the request timeout: 408 */
extern const char sc_http1_body_closed[];    /* the client closed the connection or failed */

/**
 * A part of the body (data.len may be 0 with end set), or err (then data is empty and nothing
 * more comes). Call sc_http1_server_body_consumed once done with a non-empty part.
 */
typedef void (*sc_http1_body_cb)(void *ctx, h2o_iovec_t data, int end, const char *err);

/**
 * Takes an accepted socket: the TLS handshake first when `accept_ctx->ssl_ctx` is set (within the
 * context's handshake timeout), then requests on it, for the hosts of the accept context.
 * `send_timeout` (on the context's loop, outliving the connection) bounds each write of a
 * response to the client: one that has not reached the socket whole by then closes the
 * connection, as if the client had gone.
 */
void sc_http1_server_accept(h2o_accept_ctx_t *accept_ctx, h2o_timeout_t *send_timeout, h2o_socket_t *sock);

/**
 * How the request's body is framed: SC_HTTP1_BODY_NONE, _LENGTH (with *content_length) or
 * _CHUNKED.
 */
sc_http1_body_t sc_http1_server_body(h2o_req_t *req, uint64_t *content_length);

/**
 * Bytes of the body read so far (decoded, when chunked).
 */
uint64_t sc_http1_server_body_received(h2o_req_t *req);

/**
 * Starts reading the body (once per request; not for SC_HTTP1_BODY_NONE): parts are passed to
 * cb, possibly before this returns.
 */
void sc_http1_server_read_body(h2o_req_t *req, sc_http1_body_cb cb, void *ctx);

/**
 * The last part passed is no longer needed: its bytes are released and the next part follows.
 */
void sc_http1_server_body_consumed(h2o_req_t *req);

/**
 * Closes this thread's connections that have no request in progress (idle keep-alive ones,
 * unfinished heads, TLS handshakes). Returns how many connections remain open.
 */
size_t sc_http1_server_close_idle(void);

/* Counters for /metrics, every thread's (thread-safe reads). */
typedef struct sc_http1_server_stats {
    uint64_t heads_refused;   /* 400/417 for a request head, before any handler */
    uint64_t bodies_withheld; /* responses sent without reading the request's body */
    uint64_t send_timeouts;   /* connections closed: a response write made no progress for the send timeout */
} sc_http1_server_stats_t;
void sc_http1_server_stats(sc_http1_server_stats_t *out);

#endif
