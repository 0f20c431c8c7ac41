/* libFuzzer target: a client's request head as the sidecar's HTTP/1 server reads it
 * (sc_http1_parse_request in http1_parse.h), with the contract checked rather than only run:
 * - refused (-1): the status is 400 or 417 and there is a reason;
 * - accepted: the head is no longer than the input, the method, path and every header lie within
 *   it, no line of it ends in a bare LF, it holds no folded line, at most one Transfer-Encoding
 *   (never with a Content-Length, never in HTTP/1.0) and at most one Host; its framing is one of
 *   NONE, LENGTH (with a length above 0) and CHUNKED, and expect_continue implies a body;
 * - the same bytes cut anywhere before the head's end are incomplete (-2), and cut anywhere after
 *   it parse to the same head: a head delivered in pieces is read the same way.
 * The input is copied to a buffer of its exact size so that a read past it is caught. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http1_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                                                \
    do {                                                                                                                           \
        if (!(cond))                                                                                                               \
            __builtin_trap();                                                                                                      \
    } while (0)

static size_t count(const sc_http1_request_t *req, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i != req->num_headers; ++i)
        if (req->headers[i].name_len == strlen(name) && strncasecmp(req->headers[i].name, name, strlen(name)) == 0)
            ++n;
    return n;
}

static int within(const char *p, size_t len, const char *buf, size_t buf_len)
{
    return p != NULL && p >= buf && len <= buf_len && p - buf <= (ptrdiff_t)(buf_len - len);
}

static void check_head(const char *buf, size_t head_len, const sc_http1_request_t *req)
{
    CHECK(within(req->method, req->method_len, buf, head_len));
    CHECK(within(req->path, req->path_len, buf, head_len));
    CHECK(req->num_headers <= SC_HTTP1_PARSE_MAX_REQUEST_HEADERS);
    for (size_t i = 0; i != req->num_headers; ++i) {
        CHECK(within(req->headers[i].name, req->headers[i].name_len, buf, head_len)); /* NULL: a folded line */
        CHECK(within(req->headers[i].value, req->headers[i].value_len, buf, head_len));
    }
    for (size_t i = 0; i != head_len; ++i)
        CHECK(buf[i] != '\n' || (i != 0 && buf[i - 1] == '\r'));
    size_t te = count(req, "transfer-encoding"), cl = count(req, "content-length");
    CHECK(te <= 1 && (te == 0 || cl == 0) && (te == 0 || req->minor_version != 0));
    CHECK(count(req, "host") <= 1 && count(req, "expect") <= 1);
    switch (req->body) {
    case SC_HTTP1_BODY_NONE:
        CHECK(te == 0 && req->content_length == 0);
        break;
    case SC_HTTP1_BODY_LENGTH:
        CHECK(cl != 0 && req->content_length > 0);
        break;
    case SC_HTTP1_BODY_CHUNKED:
        CHECK(te == 1);
        break;
    default:
        CHECK(0);
    }
    CHECK(req->keep_alive == 0 || req->keep_alive == 1);
    CHECK(req->expect_continue == 0 || (req->expect_continue == 1 && req->body != SC_HTTP1_BODY_NONE));
}

/* buf cut to len bytes, when the whole of it parsed to a head of head_len bytes */
static void check_cut(const char *buf, size_t len, int head_len, const sc_http1_request_t *whole)
{
    sc_http1_request_t req;
    int status = 0;
    const char *err = NULL;
    int ret = sc_http1_parse_request(buf, len, &req, &status, &err);
    if (len < (size_t)head_len) {
        CHECK(ret == -2);
        return;
    }
    CHECK(ret == head_len);
    CHECK(req.method == whole->method && req.method_len == whole->method_len && req.path == whole->path &&
          req.path_len == whole->path_len && req.minor_version == whole->minor_version && req.num_headers == whole->num_headers &&
          req.body == whole->body && req.content_length == whole->content_length && req.keep_alive == whole->keep_alive &&
          req.expect_continue == whole->expect_continue);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size != 0 ? size : 1);
    if (size != 0)
        memcpy(buf, data, size);
    sc_http1_request_t req;
    int status = 0;
    const char *err = NULL;
    int ret = sc_http1_parse_request(buf, size, &req, &status, &err);
    if (ret == -1) {
        CHECK(status == 400 || status == 417);
        CHECK(err != NULL);
    } else if (ret != -2) {
        CHECK(ret > 0 && (size_t)ret <= size);
        check_head(buf, (size_t)ret, &req);
        /* every cut up to the end of a short head, a few of a long one; and the head alone */
        if (ret <= 256) {
            for (size_t len = 0; len < (size_t)ret; ++len)
                check_cut(buf, len, ret, &req);
        } else {
            size_t cuts[] = {0, 1, (size_t)ret / 3, (size_t)ret / 2, (size_t)ret - 2, (size_t)ret - 1};
            for (size_t i = 0; i != sizeof(cuts) / sizeof(cuts[0]); ++i)
                check_cut(buf, cuts[i], ret, &req);
        }
        check_cut(buf, (size_t)ret, ret, &req);
    }
    free(buf);
    return 0;
}
