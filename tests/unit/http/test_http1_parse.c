/* Response framing read from a backend (http1_parse.h): which body a head announces, what is
 * refused as ambiguous, hop-by-hop headers, and the chunked decoder as upstream.c drives it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing),    cmocka_unit_test(test_ambiguous_framing_refused),
        cmocka_unit_test(test_incomplete), cmocka_unit_test(test_hop_by_hop),
        cmocka_unit_test(test_list_has),   cmocka_unit_test(test_chunked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
