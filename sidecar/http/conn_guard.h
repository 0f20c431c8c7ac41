/*
 * conn_guard: bounds on what a client can make the sidecar hold before a handler runs, for the
 * HTTP/1 connections of the services.
 *
 * libh2o 2.2.5 reads a request's whole body into the connection's input buffer before any
 * handler runs, and offers no hook on the way. Every read on an HTTP/1 connection is started by
 * h2o_socket_read_start; this module defines that symbol in the executable, so that the calls
 * libh2o makes through its PLT arrive here first (ELF symbol interposition), and slips its own
 * read callback in front of h2o's for the sockets it guards. The callback sees each read before
 * h2o does, and:
 *
 *  - counts the bytes buffered by every guarded connection against max_buffered_body_bytes;
 *    a request with a body that would go past it is refused: 503 with Retry-After, written here,
 *    then h2o is told the connection ended (so it frees it as it would any closed connection);
 *  - once the request line and headers are complete (parsed with libh2o's own picohttpparser, so
 *    both read the same head), asks the pipeline whether the request will be refused whatever
 *    its body (a route that needs credentials, none presented); if so, the body is withheld: the
 *    Content-Length / Transfer-Encoding header names are overwritten in the buffer, h2o runs the
 *    pipeline at once, which answers 401 and closes the connection.
 *
 * It also counts connections for max_connections. The guard is shared by every worker (atomic
 * counters); the per-connection state belongs to the connection's worker.
 */
#ifndef SC_CONN_GUARD_H
#define SC_CONN_GUARD_H

#include <h2o.h>
#include <stdint.h>

typedef struct sc_conn_guard sc_conn_guard_t;
typedef struct sc_conn sc_conn_t;

/* Whether a request whose head is complete is answered before its body (see above). */
typedef int (*sc_conn_early_answer_cb)(void *ctx, const char *method, size_t method_len, const char *path, size_t path_len,
                                       int has_credentials);

/**
 * Checks that the interposition works in this process (the executable's h2o_socket_read_start
 * is the one libh2o calls) and finds libh2o's own. Call once, before any connection. Returns 0,
 * or -1 with a reason in err.
 */
int sc_conn_guard_setup(char *err, size_t errsize);

sc_conn_guard_t *sc_conn_guard_create(uint64_t max_connections, uint64_t max_buffered_bytes);
void sc_conn_guard_free(sc_conn_guard_t *guard);

/**
 * 1 while the number of guarded connections is below max_connections (thread-safe).
 */
int sc_conn_guard_admit(sc_conn_guard_t *guard);

/**
 * Guards an accepted socket; call before h2o_accept. `early` (with ctx) decides early answers.
 * Returns -1 when out of memory (the caller closes the socket).
 */
int sc_conn_guard_attach(sc_conn_guard_t *guard, h2o_socket_t *sock, sc_conn_early_answer_cb early, void *ctx);

/**
 * Remembers that the socket's TLS handshake requires a verified client certificate (the
 * listener's context when it was accepted: a reload that adds or removes client_ca_file does not
 * change what an open connection proved). Call after sc_conn_guard_attach, before h2o_accept.
 */
void sc_conn_guard_set_client_cert_required(h2o_socket_t *sock);

/**
 * 1 when requests on this connection come from the holder of a verified client certificate.
 */
int sc_conn_guard_client_cert_verified(const sc_conn_t *conn);

/**
 * The guard of the connection carrying req, or NULL (admin connections, HTTP/2).
 */
sc_conn_t *sc_conn_guard_of_req(h2o_req_t *req);

/**
 * The pipeline has the request: the next read starts a new one. Returns 1 when the request's
 * body was withheld (the connection must close after the response, and nothing be forwarded).
 */
int sc_conn_guard_request_started(sc_conn_t *conn);

/* Counters for /metrics (thread-safe reads). */
typedef struct sc_conn_guard_stats {
    uint64_t connections;     /* now */
    uint64_t buffered_bytes;  /* now */
    uint64_t uploads_refused; /* 503: over max_buffered_body_bytes */
    uint64_t bodies_withheld; /* answered before the body */
} sc_conn_guard_stats_t;
void sc_conn_guard_stats(sc_conn_guard_t *guard, sc_conn_guard_stats_t *out);

#endif
