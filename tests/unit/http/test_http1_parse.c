/* Response framing read from a backend (http1_parse.h): which body a head announces, what is
 * refused as ambiguous, hop-by-hop headers, and the chunked decoder as upstream.c drives it.
 * Request heads read from a client: the framing and fields of those accepted, every smuggling
 * variant refused with 400, an unknown expectation with 417, every proper prefix incomplete. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include <h2o.h>

#include "http1_parse.h"

static int parse(const char *head, int head_request, sc_http1_response_t *resp, const char **err)
{
    *err = NULL;
    return sc_http1_parse_response(head, strlen(head), head_request, resp, err);
}

static const struct framing_row {
    const char *head;
    int head_request;
    sc_http1_body_t body;
    uint64_t length;
    int keep_alive;
} framing_rows[] = {
    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 0, SC_HTTP1_BODY_LENGTH, 5, 1},
    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 0, SC_HTTP1_BODY_LENGTH, 5, 1},
    {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, SC_HTTP1_BODY_LENGTH, 0, 1},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0, SC_HTTP1_BODY_CHUNKED, 0, 1},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked \r\n\r\n", 0, SC_HTTP1_BODY_CHUNKED, 0, 1},
    {"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n", 0, SC_HTTP1_BODY_CLOSE, 0, 0},
    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n", 0, SC_HTTP1_BODY_LENGTH, 5, 0},
    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive, Close\r\n\r\n", 0, SC_HTTP1_BODY_LENGTH, 5, 0},
    {"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n", 0, SC_HTTP1_BODY_LENGTH, 5, 0},
    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 1, SC_HTTP1_BODY_NONE, 5, 1}, /* HEAD */
    {"HTTP/1.1 200 OK\r\n\r\n", 1, SC_HTTP1_BODY_NONE, 0, 1},                      /* HEAD, nothing said */
    {"HTTP/1.1 204 No Content\r\n\r\n", 0, SC_HTTP1_BODY_NONE, 0, 1},              /* 204 */
    {"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", 0, SC_HTTP1_BODY_NONE, 9, 1},
    {"HTTP/1.1 100 Continue\r\n\r\n", 0, SC_HTTP1_BODY_NONE, 0, 1},
};

static void test_framing(void **state)
{
    (void)state;
    for (size_t i = 0; i != sizeof(framing_rows) / sizeof(framing_rows[0]); ++i) {
        const struct framing_row *row = &framing_rows[i];
        sc_http1_response_t resp;
        const char *err;
        int ret = parse(row->head, row->head_request, &resp, &err);
        if (ret != (int)strlen(row->head))
            fail_msg("row %zu: %d (%s)", i, ret, err != NULL ? err : "");
        assert_int_equal(resp.body, row->body);
        assert_int_equal(resp.content_length, row->length);
        assert_int_equal(resp.keep_alive, row->keep_alive);
    }
}

static void test_ambiguous_framing_refused(void **state)
{
    (void)state;
    static const char *const refused[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 099 OK\r\n\r\n",
        "HTTP/2 200 OK\r\n\r\n",
        "garbage\r\n\r\n",
        /* HEAD does not make a conflict acceptable */
        NULL,
    };
    for (size_t i = 0; refused[i] != NULL; ++i) {
        sc_http1_response_t resp;
        const char *err;
        if (parse(refused[i], 0, &resp, &err) != -1)
            fail_msg("accepted: %s", refused[i]);
        assert_non_null(err);
    }
    sc_http1_response_t resp;
    const char *err;
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 1, &resp, &err), -1);
}

static void test_incomplete(void **state)
{
    (void)state;
    sc_http1_response_t resp;
    const char *err;
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Len", 0, &resp, &err), -2);
    assert_int_equal(parse("", 0, &resp, &err), -2);
}

static int dropped(const char *head, const char *name)
{
    static sc_http1_response_t resp;
    const char *err;
    assert_true(parse(head, 0, &resp, &err) > 0);
    for (size_t i = 0; i != resp.num_headers; ++i)
        if (resp.headers[i].name_len == strlen(name) && memcmp(resp.headers[i].name, name, strlen(name)) == 0)
            return sc_http1_parse_response_drops(&resp, i);
    fail_msg("no header %s", name);
    return -1;
}

static void test_hop_by_hop(void **state)
{
    (void)state;
    const char *head = "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Private , x-other\r\nKeep-Alive: timeout=5\r\n"
                       "Proxy-Authenticate: Basic\r\nProxy-Foo: 1\r\nTE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\n"
                       "X-Private: secret\r\nX-Other: 1\r\nServer: backend/1\r\nContent-Type: text/plain\r\n"
                       "Content-Length: 3\r\nX-Request-Id: abc\r\n\r\n";
    static const char *const gone[] = {"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Foo", "TE", "Trailer", "Upgrade",
                                       "X-Private",  "X-Other",    "Content-Length",     NULL};
    static const char *const kept[] = {"Server", "Content-Type", "X-Request-Id", NULL};
    for (const char *const *n = gone; *n != NULL; ++n)
        if (dropped(head, *n) != 1)
            fail_msg("%s kept", *n);
    for (const char *const *n = kept; *n != NULL; ++n)
        if (dropped(head, *n) != 0)
            fail_msg("%s dropped", *n);
    assert_true(sc_http1_parse_is_hop_by_hop(H2O_STRLIT("TRANSFER-ENCODING")));
    assert_true(sc_http1_parse_is_hop_by_hop(H2O_STRLIT("http2-settings")));
    assert_false(sc_http1_parse_is_hop_by_hop(H2O_STRLIT("proxy")));
    assert_false(sc_http1_parse_is_hop_by_hop(H2O_STRLIT("tea")));
}

static void test_list_has(void **state)
{
    (void)state;
    assert_true(sc_http1_parse_list_has(H2O_STRLIT("a, B ,c"), H2O_STRLIT("b")));
    assert_true(sc_http1_parse_list_has(H2O_STRLIT("close"), H2O_STRLIT("CLOSE")));
    assert_false(sc_http1_parse_list_has(H2O_STRLIT("closed"), H2O_STRLIT("close")));
    assert_false(sc_http1_parse_list_has(H2O_STRLIT(", ,"), H2O_STRLIT("")));
    assert_false(sc_http1_parse_list_has(H2O_STRLIT(""), H2O_STRLIT("a")));
}

/* Decoded in place, fed in pieces of every size, as the socket delivers it. */
static void decode_in_pieces(const char *encoded, const char *expected, size_t piece, ssize_t expected_ret)
{
    struct phr_chunked_decoder dec = {0};
    dec.consume_trailer = 1;
    char out[256] = "", buf[256];
    size_t out_len = 0, len = strlen(encoded);
    ssize_t ret = -2;
    for (size_t at = 0; at < len && ret == -2; at += piece) {
        size_t n = len - at < piece ? len - at : piece;
        memcpy(buf, encoded + at, n);
        ret = phr_decode_chunked(&dec, buf, &n);
        if (ret == -1)
            break;
        memcpy(out + out_len, buf, n);
        out_len += n;
    }
    assert_int_equal(ret < 0 ? ret : 0, expected_ret < 0 ? expected_ret : 0);
    if (expected != NULL) {
        assert_int_equal(out_len, strlen(expected));
        assert_memory_equal(out, expected, out_len);
    }
}

static void test_chunked(void **state)
{
    (void)state;
    for (size_t piece = 1; piece != 40; ++piece) {
        decode_in_pieces("5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n", "hello world", piece, 0);
        decode_in_pieces("3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n", "abc", piece, 0);
        decode_in_pieces("zz\r\nabc\r\n", NULL, piece, -1);                  /* not a size */
        decode_in_pieces("fffffffffffffffffff\r\nabc\r\n", NULL, piece, -1); /* overflows */
    }
    decode_in_pieces("5\r\nhel", "hel", 100, -2); /* incomplete */
}

/* ------------------------------------------------------------------ requests */

static int parse_request(const char *head, size_t len, sc_http1_request_t *req, int *status, const char **err)
{
    *status = 0;
    *err = NULL;
    return sc_http1_parse_request(head, len, req, status, err);
}

static const struct request_row {
    const char *head;
    const char *method;
    const char *path;
    int minor_version;
    size_t num_headers;
    sc_http1_body_t body;
    uint64_t length;
    int keep_alive;
    int expect_continue;
} request_rows[] = {
    {"GET /a?b=1 HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/a?b=1", 1, 1, SC_HTTP1_BODY_NONE, 0, 1, 0},
    {"GET / HTTP/1.1\r\n\r\n", "GET", "/", 1, 0, SC_HTTP1_BODY_NONE, 0, 1, 0},
    {"GET / HTTP/1.0\r\n\r\n", "GET", "/", 0, 0, SC_HTTP1_BODY_NONE, 0, 0, 0},
    {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "GET", "/", 0, 1, SC_HTTP1_BODY_NONE, 0, 1, 0},
    {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", "GET", "/", 0, 1, SC_HTTP1_BODY_NONE, 0, 1, 0},
    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "GET", "/", 1, 2, SC_HTTP1_BODY_NONE, 0, 0, 0},
    {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", "GET", "/", 0, 1, SC_HTTP1_BODY_NONE, 0, 0, 0},
    {"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", "POST", "/p", 1, 2, SC_HTTP1_BODY_LENGTH, 5, 1, 0},
    {"POST /p HTTP/1.0\r\nContent-Length: 5\r\n\r\n", "POST", "/p", 0, 1, SC_HTTP1_BODY_LENGTH, 5, 0, 0},
    {"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", "POST", "/p", 1, 2, SC_HTTP1_BODY_NONE, 0, 1, 0},
    {"POST /p HTTP/1.1\r\nContent-Length: 5\r\nHost: a\r\nContent-Length: 5\r\n\r\n", "POST", "/p", 1, 3, SC_HTTP1_BODY_LENGTH, 5,
     1, 0},
    {"PUT /p HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999999999999\r\n\r\n", "PUT", "/p", 1, 2, SC_HTTP1_BODY_LENGTH,
     999999999999999999u, 1, 0}, /* 18 digits: the most taken */
    {"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", "POST", "/p", 1, 2, SC_HTTP1_BODY_CHUNKED, 0, 1, 0},
    {"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  Chunked \r\n\r\n", "POST", "/p", 1, 2, SC_HTTP1_BODY_CHUNKED, 0, 1, 0},
    {"POST /p HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", "POST", "/p", 1, 3, SC_HTTP1_BODY_LENGTH,
     5, 1, 1},
    {"POST /p HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nTransfer-Encoding: chunked\r\n\r\n", "POST", "/p", 1, 3,
     SC_HTTP1_BODY_CHUNKED, 0, 1, 1},
    {"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", "GET", "/", 1, 2, SC_HTTP1_BODY_NONE, 0, 1, 0},
    {"POST /p HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n", "POST", "/p", 1, 3, SC_HTTP1_BODY_NONE, 0,
     1, 0},
    {"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "OPTIONS", "*", 1, 1, SC_HTTP1_BODY_NONE, 0, 1, 0},
};

static void test_request_accepted(void **state)
{
    (void)state;
    for (size_t i = 0; i != sizeof(request_rows) / sizeof(request_rows[0]); ++i) {
        const struct request_row *row = &request_rows[i];
        size_t len = strlen(row->head);
        /* the head, then a body that must not count */
        char buf[256];
        assert_true(len + 5 <= sizeof(buf));
        memcpy(buf, row->head, len);
        memcpy(buf + len, "hello", 5);
        sc_http1_request_t req;
        int status;
        const char *err;
        int ret = parse_request(buf, len + 5, &req, &status, &err);
        if (ret != (int)len)
            fail_msg("row %zu: %d (%d %s)", i, ret, status, err != NULL ? err : "");
        assert_int_equal(req.method_len, strlen(row->method));
        assert_memory_equal(req.method, row->method, req.method_len);
        assert_int_equal(req.path_len, strlen(row->path));
        assert_memory_equal(req.path, row->path, req.path_len);
        assert_int_equal(req.minor_version, row->minor_version);
        assert_int_equal(req.num_headers, row->num_headers);
        for (size_t h = 0; h != req.num_headers; ++h) {
            assert_true(req.headers[h].name >= buf && req.headers[h].name + req.headers[h].name_len <= buf + len);
            assert_true(req.headers[h].value >= buf && req.headers[h].value + req.headers[h].value_len <= buf + len);
        }
        if (req.body != row->body || req.content_length != row->length || req.keep_alive != row->keep_alive ||
            req.expect_continue != row->expect_continue)
            fail_msg("row %zu: body %d length %llu keep_alive %d expect_continue %d", i, (int)req.body,
                     (unsigned long long)req.content_length, req.keep_alive, req.expect_continue);
    }
}

/* A gateway in front could read each of these heads' framing differently from the sidecar. */
#define REFUSED(s) s, sizeof(s) - 1
static const struct refused_row {
    const char *head;
    size_t len;
} smuggling_rows[] = {
    /* Content-Length and Transfer-Encoding together, either order, whatever the length */
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")},
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n")},
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n")},
    /* Content-Length that is not plain digits, or several that differ */
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")},
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5, 5\r\n\r\n")},
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n")},
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n")},
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n")},
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n")},
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,5\r\n\r\n")},
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n")},
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000000000000\r\n\r\n")}, /* 19 digits */
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n")},
    /* Transfer-Encoding other than exactly one `chunked`, or in HTTP/1.0 */
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n")},
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n")},
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")},
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n")},
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n")},
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n")},
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n")},
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n")},
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n")},
    {REFUSED("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n")},
    /* a line ending in a bare LF: the request line, a header line, the final empty line */
    {REFUSED("POST / HTTP/1.1\nHost: a\r\nContent-Length: 5\r\n\r\n")},
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\n\r\n")},
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\n")},
    {REFUSED("POST / HTTP/1.1\nHost: a\nContent-Length: 5\n\n")},
    {REFUSED("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")}, /* a bare LF before the request line too */
    /* a bare CR: picohttpparser wants LF after every CR */
    {REFUSED("POST / HTTP/1.1\r\nHost: a\rContent-Length: 5\r\n\r\n")},
    /* obs-fold continuation lines */
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n folded\r\n\r\n")},
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip,\r\n\tchunked\r\n\r\n")},
    /* several Host headers, any case */
    {REFUSED("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")},
    {REFUSED("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n")},
    /* whitespace between a header name and its colon (picohttpparser refuses it) */
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n")},
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\t: chunked\r\n\r\n")},
    {REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n")},
    {REFUSED("POST / HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: a\r\n\r\n")}, /* a line starting with a space */
    /* control characters in a value, a name or the path (picohttpparser refuses all but HTAB) */
    {REFUSED("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\0002\r\n\r\n")},
    {REFUSED("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\0012\r\n\r\n")},
    {REFUSED("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\1772\r\n\r\n")},
    {REFUSED("GET / HTTP/1.1\r\nHost: a\r\nX\000A: 1\r\n\r\n")},
    {REFUSED("GET /a\000b HTTP/1.1\r\nHost: a\r\n\r\n")},
    {REFUSED("GET /a\001b HTTP/1.1\r\nHost: a\r\n\r\n")},
    /* an empty header name, a malformed request line */
    {REFUSED("GET / HTTP/1.1\r\nHost: a\r\n: 1\r\n\r\n")},
    {REFUSED("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n")},
    {REFUSED("GET / HTTP/1.1 \r\nHost: a\r\n\r\n")},
    {REFUSED("GET / HTTP/2.0\r\nHost: a\r\n\r\n")},
    {REFUSED("GET / HTTP/1.10\r\nHost: a\r\n\r\n")},
    {REFUSED("GET /\r\n\r\n")},
    {REFUSED(" / HTTP/1.1\r\nHost: a\r\n\r\n")}, /* an empty method: picohttpparser takes it, we do not */
};

static void test_request_smuggling_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i != sizeof(smuggling_rows) / sizeof(smuggling_rows[0]); ++i) {
        sc_http1_request_t req;
        int status;
        const char *err;
        int ret = parse_request(smuggling_rows[i].head, smuggling_rows[i].len, &req, &status, &err);
        if (ret != -1 || status != 400 || err == NULL)
            fail_msg("row %zu: %d %d, not refused with 400: %.*s", i, ret, status, (int)smuggling_rows[i].len,
                     smuggling_rows[i].head);
    }
}

static void test_request_too_many_headers(void **state)
{
    (void)state;
    char head[4096];
    for (size_t n = SC_HTTP1_PARSE_MAX_REQUEST_HEADERS; n <= SC_HTTP1_PARSE_MAX_REQUEST_HEADERS + 1; ++n) {
        size_t len = (size_t)snprintf(head, sizeof(head), "GET / HTTP/1.1\r\n");
        for (size_t i = 0; i != n; ++i)
            len += (size_t)snprintf(head + len, sizeof(head) - len, "X-%zu: v\r\n", i);
        len += (size_t)snprintf(head + len, sizeof(head) - len, "\r\n");
        assert_true(len < sizeof(head));
        sc_http1_request_t req;
        int status;
        const char *err;
        int ret = parse_request(head, len, &req, &status, &err);
        if (n == SC_HTTP1_PARSE_MAX_REQUEST_HEADERS) {
            assert_int_equal(ret, (int)len);
            assert_int_equal(req.num_headers, n);
        } else {
            assert_int_equal(ret, -1);
            assert_int_equal(status, 400);
            assert_non_null(err);
        }
    }
}

static void test_request_expectation(void **state)
{
    (void)state;
    static const char *const refused[] = {
        "POST / HTTP/1.1\r\nHost: a\r\nExpect: something-else\r\nContent-Length: 5\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nExpect: something-else\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, foo\r\nContent-Length: 5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nExpect: \r\nContent-Length: 5\r\n\r\n",
        NULL,
    };
    for (size_t i = 0; refused[i] != NULL; ++i) {
        sc_http1_request_t req;
        int status;
        const char *err;
        int ret = parse_request(refused[i], strlen(refused[i]), &req, &status, &err);
        if (ret != -1 || status != 417 || err == NULL)
            fail_msg("%d %d: %s", ret, status, refused[i]);
    }
    /* ambiguous framing is a 400 even with an unknown expectation */
    sc_http1_request_t req;
    int status;
    const char *err;
    const char *both = "POST / HTTP/1.1\r\nHost: a\r\nExpect: nope\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_int_equal(parse_request(both, strlen(both), &req, &status, &err), -1);
    assert_int_equal(status, 400);
}

/* Every proper prefix of a head is incomplete, whatever byte it stops at (a CR without its LF
 * included), and never refused: the socket may deliver a head in any pieces. */
static void test_request_incomplete(void **state)
{
    (void)state;
    for (size_t i = 0; i != sizeof(request_rows) / sizeof(request_rows[0]); ++i) {
        const char *head = request_rows[i].head;
        for (size_t len = 0; len != strlen(head); ++len) {
            sc_http1_request_t req;
            int status;
            const char *err;
            int ret = parse_request(head, len, &req, &status, &err);
            if (ret != -2)
                fail_msg("row %zu, %zu bytes: %d (%s)", i, len, ret, err != NULL ? err : "");
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_ambiguous_framing_refused),
        cmocka_unit_test(test_incomplete),
        cmocka_unit_test(test_hop_by_hop),
        cmocka_unit_test(test_list_has),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_request_accepted),
        cmocka_unit_test(test_request_smuggling_refused),
        cmocka_unit_test(test_request_too_many_headers),
        cmocka_unit_test(test_request_expectation),
        cmocka_unit_test(test_request_incomplete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
