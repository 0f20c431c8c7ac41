/*
 * http1_parse: HTTP/1.1 framing rules for what the sidecar reads from a client and from a
 * backend, as pure functions over picohttpparser (bundled and exported by libh2o 2.2.5, which
 * ships no header for it: the declarations are here, once, for every module that parses HTTP/1
 * with it).
 *
 * A request's body is framed by nothing, Content-Length or `Transfer-Encoding: chunked`; a
 * request whose framing a gateway and the sidecar could read differently is refused with 400
 * before anything is forwarded: a line ending in a bare LF, a folded header line, Content-Length
 * and Transfer-Encoding together, several Transfer-Encoding headers, one that is not exactly
 * `chunked` (or any in HTTP/1.0), a Content-Length that is not plain digits, or several that
 * differ, several Host headers. An Expect other than 100-continue is refused with 417.
 *
 * A response's body is framed by exactly one of: nothing (a HEAD request, 1xx, 204, 304),
 * Content-Length, chunked Transfer-Encoding, or the end of the connection. Anything ambiguous
 * is refused (both Content-Length and Transfer-Encoding, several differing or malformed
 * Content-Length values, a Transfer-Encoding that does not end in chunked): a proxy that reads
 * such a response one way while the next hop reads it another is how responses get smuggled.
 */
#ifndef SC_HTTP1_PARSE_H
#define SC_HTTP1_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* picohttpparser, as libh2o 2.2.5 exports it */
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};
struct phr_chunked_decoder {
    size_t bytes_left_in_chunk;
    char consume_trailer;
    char _hex_count;
    char _state;
};
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len, const char **path, size_t *path_len,
                      int *minor_version, struct phr_header *headers, size_t *num_headers, size_t last_len);
int phr_parse_response(const char *buf, size_t len, int *minor_version, int *status, const char **msg, size_t *msg_len,
                       struct phr_header *headers, size_t *num_headers, size_t last_len);
ssize_t phr_decode_chunked(struct phr_chunked_decoder *decoder, char *buf, size_t *bufsz);

/* Response header lines read from a backend: more is refused. */
#define SC_HTTP1_PARSE_MAX_HEADERS 100

typedef enum {
    SC_HTTP1_BODY_NONE,    /* HEAD, 1xx, 204, 304 */
    SC_HTTP1_BODY_LENGTH,  /* Content-Length */
    SC_HTTP1_BODY_CHUNKED, /* Transfer-Encoding: chunked */
    SC_HTTP1_BODY_CLOSE    /* until the backend closes the connection */
} sc_http1_body_t;

typedef struct sc_http1_response {
    int minor_version;
    int status;
    const char *reason;
    size_t reason_len;
    struct phr_header headers[SC_HTTP1_PARSE_MAX_HEADERS];
    size_t num_headers;
    sc_http1_body_t body;
    uint64_t content_length; /* SC_HTTP1_BODY_LENGTH */
    int keep_alive;          /* the connection may carry another request once this response is read */
} sc_http1_response_t;

/* Request header lines read from a client: more is refused. */
#define SC_HTTP1_PARSE_MAX_REQUEST_HEADERS 100

typedef struct sc_http1_request {
    const char *method;
    size_t method_len;
    const char *path;
    size_t path_len;
    int minor_version;
    struct phr_header headers[SC_HTTP1_PARSE_MAX_REQUEST_HEADERS];
    size_t num_headers;
    sc_http1_body_t body;    /* NONE, LENGTH or CHUNKED */
    uint64_t content_length; /* SC_HTTP1_BODY_LENGTH (a Content-Length of 0 is BODY_NONE) */
    int keep_alive;          /* the client may send another request on the connection */
    int expect_continue;     /* Expect: 100-continue, with a body */
} sc_http1_request_t;

/**
 * Parses a request head in `buf`. Returns the head's length; -2 when incomplete; -1 when it is
 * refused, with *status (400, or 417 for an expectation other than 100-continue) and *err saying
 * why; out->method is then NULL unless the head itself could be read. The headers point into
 * `buf`.
 */
int sc_http1_parse_request(const char *buf, size_t len, sc_http1_request_t *out, int *status, const char **err);

/**
 * Parses a response head in `buf` and decides its framing (`head_request`: it answers a HEAD).
 * Returns the head's length, -2 when incomplete, -1 when it is malformed or its framing
 * ambiguous (*err then says which). The headers point into `buf`.
 */
int sc_http1_parse_response(const char *buf, size_t len, int head_request, sc_http1_response_t *out, const char **err);

/**
 * The framing rules alone, over parsed headers: 0, or -1 with *err.
 */
int sc_http1_parse_framing(int minor_version, int status, int head_request, const struct phr_header *headers, size_t n,
                           sc_http1_body_t *body, uint64_t *content_length, int *keep_alive, const char **err);

/**
 * 1 for a hop-by-hop header name (any case): Connection, Keep-Alive, Proxy-*, TE, Trailer,
 * Transfer-Encoding, Upgrade, HTTP2-Settings.
 */
int sc_http1_parse_is_hop_by_hop(const char *name, size_t len);

/**
 * 1 when the comma-separated token list `list` names `name` (any case, spaces around tokens
 * ignored): what a Connection header says is hop-by-hop too.
 */
int sc_http1_parse_list_has(const char *list, size_t list_len, const char *name, size_t name_len);

/**
 * 1 when response header `i` must not be passed on: hop-by-hop, named by a Connection header of
 * the same response, or Content-Length (the framing of the next hop is its own).
 */
int sc_http1_parse_response_drops(const sc_http1_response_t *resp, size_t i);

#endif
