#include "http1_parse.h"

#include <string.h>
#include <strings.h>

static int name_is(const struct phr_header *h, const char *lit)
{
    size_t n = strlen(lit);
    return h->name != NULL && h->name_len == n && strncasecmp(h->name, lit, n) == 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* The list's last token, spaces trimmed. */
static void last_token(const char *v, size_t len, const char **tok, size_t *tok_len)
{
    while (len != 0 && (is_space(v[len - 1]) || v[len - 1] == ','))
        --len;
    size_t start = len;
    while (start != 0 && v[start - 1] != ',')
        --start;
    while (start < len && is_space(v[start]))
        ++start;
    *tok = v + start;
    *tok_len = len - start;
}

int sc_http1_parse_list_has(const char *list, size_t list_len, const char *name, size_t name_len)
{
    const char *p = list, *end = list + list_len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p)), *tok_end = comma != NULL ? comma : end;
        while (p < tok_end && is_space(*p))
            ++p;
        const char *e = tok_end;
        while (e > p && is_space(e[-1]))
            --e;
        if ((size_t)(e - p) == name_len && name_len != 0 && strncasecmp(p, name, name_len) == 0)
            return 1;
        p = tok_end + 1;
    }
    return 0;
}

int sc_http1_parse_is_hop_by_hop(const char *name, size_t len)
{
    static const char *const names[] = {"connection", "keep-alive",     "te", "trailer", "transfer-encoding",
                                        "upgrade",    "http2-settings", NULL};
    if (len >= 6 && strncasecmp(name, "proxy-", 6) == 0)
        return 1;
    for (const char *const *n = names; *n != NULL; ++n)
        if (strlen(*n) == len && strncasecmp(name, *n, len) == 0)
            return 1;
    return 0;
}

/* Content-Length: digits only, at most 18 of them (no overflow, nothing a backend sends). */
static int parse_length(const char *v, size_t len, uint64_t *out)
{
    while (len != 0 && is_space(*v))
        ++v, --len;
    while (len != 0 && is_space(v[len - 1]))
        --len;
    if (len == 0 || len > 18)
        return -1;
    uint64_t n = 0;
    for (size_t i = 0; i != len; ++i) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        n = n * 10 + (uint64_t)(v[i] - '0');
    }
    *out = n;
    return 0;
}

/* Every Content-Length must say the same number; returns how many there are, -1 when they differ. */
static int read_lengths(const struct phr_header *headers, size_t n, uint64_t *length)
{
    int seen = 0;
    for (size_t i = 0; i != n; ++i) {
        uint64_t v;
        if (!name_is(&headers[i], "content-length"))
            continue;
        if (parse_length(headers[i].value, headers[i].value_len, &v) != 0 || (seen && v != *length))
            return -1;
        *length = v;
        seen = 1;
    }
    return seen;
}

static int wants_close(int minor_version, const struct phr_header *headers, size_t n)
{
    int close = minor_version == 0; /* HTTP/1.0: persistent only on request, which we never make */
    for (size_t i = 0; i != n; ++i)
        if (name_is(&headers[i], "connection") && sc_http1_parse_list_has(headers[i].value, headers[i].value_len, "close", 5))
            close = 1;
    return close;
}

int sc_http1_parse_framing(int minor_version, int status, int head_request, const struct phr_header *headers, size_t n,
                           sc_http1_body_t *body, uint64_t *content_length, int *keep_alive, const char **err)
{
    size_t te_count = 0, te_at = 0;
    for (size_t i = 0; i != n; ++i)
        if (name_is(&headers[i], "transfer-encoding"))
            ++te_count, te_at = i;
    int lengths = read_lengths(headers, n, content_length);
    if (lengths < 0)
        return *err = "malformed or conflicting content-length", -1;
    if (te_count != 0 && lengths != 0)
        return *err = "both content-length and transfer-encoding", -1;
    if (te_count > 1)
        return *err = "several transfer-encoding headers", -1;
    *keep_alive = !wants_close(minor_version, headers, n);
    if (head_request || (status >= 100 && status < 200) || status == 204 || status == 304) {
        *body = SC_HTTP1_BODY_NONE;
        return 0;
    }
    if (te_count != 0) {
        const char *tok;
        size_t tok_len;
        last_token(headers[te_at].value, headers[te_at].value_len, &tok, &tok_len);
        if (tok_len != 7 || strncasecmp(tok, "chunked", 7) != 0)
            return *err = "transfer-encoding that does not end in chunked", -1;
        *body = SC_HTTP1_BODY_CHUNKED;
        return 0;
    }
    if (lengths != 0) {
        *body = SC_HTTP1_BODY_LENGTH;
        return 0;
    }
    *body = SC_HTTP1_BODY_CLOSE;
    *keep_alive = 0;
    return 0;
}

int sc_http1_parse_response(const char *buf, size_t len, int head_request, sc_http1_response_t *out, const char **err)
{
    out->num_headers = SC_HTTP1_PARSE_MAX_HEADERS;
    int ret = phr_parse_response(buf, len, &out->minor_version, &out->status, &out->reason, &out->reason_len, out->headers,
                                 &out->num_headers, 0);
    if (ret == -2)
        return -2;
    if (ret < 0)
        return *err = "malformed response head", -1;
    if (out->status < 100 || out->status > 999)
        return *err = "bad status", -1;
    for (size_t i = 0; i != out->num_headers; ++i)
        if (out->headers[i].name == NULL) /* obs-fold: refused rather than guessed at */
            return *err = "folded header line", -1;
    out->content_length = 0;
    if (sc_http1_parse_framing(out->minor_version, out->status, head_request, out->headers, out->num_headers, &out->body,
                               &out->content_length, &out->keep_alive, err) != 0)
        return -1;
    return ret;
}

int sc_http1_parse_response_drops(const sc_http1_response_t *resp, size_t i)
{
    const struct phr_header *h = &resp->headers[i];
    if (sc_http1_parse_is_hop_by_hop(h->name, h->name_len) || name_is(h, "content-length"))
        return 1;
    for (size_t j = 0; j != resp->num_headers; ++j)
        if (name_is(&resp->headers[j], "connection") &&
            sc_http1_parse_list_has(resp->headers[j].value, resp->headers[j].value_len, h->name, h->name_len))
            return 1;
    return 0;
}

/* ------------------------------------------------------------------ requests */

/* Every line of a head must end in CRLF: picohttpparser also takes a bare LF, which a gateway in
 * front of the sidecar may read differently. */
static int has_bare_lf(const char *buf, size_t len)
{
    for (const char *p = memchr(buf, '\n', len); p != NULL; p = memchr(p + 1, '\n', len - (size_t)(p + 1 - buf)))
        if (p == buf || p[-1] != '\r')
            return 1;
    return 0;
}

static int is_token(const char *v, size_t len, const char *lit)
{
    while (len != 0 && is_space(*v))
        ++v, --len;
    while (len != 0 && is_space(v[len - 1]))
        --len;
    return len == strlen(lit) && strncasecmp(v, lit, len) == 0;
}

static int count_named(const struct phr_header *headers, size_t n, const char *name, size_t *at)
{
    int count = 0;
    for (size_t i = 0; i != n; ++i)
        if (name_is(&headers[i], name))
            ++count, *at = i;
    return count;
}

static int request_keep_alive(int minor_version, const struct phr_header *headers, size_t n)
{
    int keep_alive = minor_version != 0, close = 0;
    for (size_t i = 0; i != n; ++i) {
        if (!name_is(&headers[i], "connection"))
            continue;
        close |= sc_http1_parse_list_has(headers[i].value, headers[i].value_len, "close", 5);
        keep_alive |= sc_http1_parse_list_has(headers[i].value, headers[i].value_len, "keep-alive", 10);
    }
    return keep_alive && !close;
}

#define REFUSE(code, why) (*status = (code), *err = (why), -1)

static int request_framing(sc_http1_request_t *out, int *status, const char **err)
{
    size_t te_at = 0, unused;
    int te_count = count_named(out->headers, out->num_headers, "transfer-encoding", &te_at);
    int lengths = read_lengths(out->headers, out->num_headers, &out->content_length);
    if (lengths < 0)
        return REFUSE(400, "malformed or conflicting content-length");
    if (te_count != 0 && lengths != 0)
        return REFUSE(400, "both content-length and transfer-encoding");
    if (te_count > 1)
        return REFUSE(400, "several transfer-encoding headers");
    if (te_count != 0 && out->minor_version == 0)
        return REFUSE(400, "transfer-encoding in an HTTP/1.0 request");
    if (te_count != 0 && !is_token(out->headers[te_at].value, out->headers[te_at].value_len, "chunked"))
        return REFUSE(400, "transfer-encoding other than chunked");
    if (count_named(out->headers, out->num_headers, "host", &unused) > 1)
        return REFUSE(400, "several host headers");
    out->body = te_count != 0                              ? SC_HTTP1_BODY_CHUNKED
                : lengths != 0 && out->content_length != 0 ? SC_HTTP1_BODY_LENGTH
                                                           : SC_HTTP1_BODY_NONE;
    return 0;
}

static int request_expectation(sc_http1_request_t *out, int *status, const char **err)
{
    size_t at = 0;
    int count = count_named(out->headers, out->num_headers, "expect", &at);
    out->expect_continue = 0;
    if (count == 0)
        return 0;
    if (count > 1 || !is_token(out->headers[at].value, out->headers[at].value_len, "100-continue"))
        return REFUSE(417, "unsupported expectation");
    out->expect_continue = out->body != SC_HTTP1_BODY_NONE;
    return 0;
}

int sc_http1_parse_request(const char *buf, size_t len, sc_http1_request_t *out, int *status, const char **err)
{
    out->num_headers = SC_HTTP1_PARSE_MAX_REQUEST_HEADERS;
    out->body = SC_HTTP1_BODY_NONE; /* what a refused head leaves */
    out->content_length = 0;
    out->keep_alive = out->expect_continue = 0;
    int ret = phr_parse_request(buf, len, &out->method, &out->method_len, &out->path, &out->path_len, &out->minor_version,
                                out->headers, &out->num_headers, 0);
    if (ret == -2)
        return -2;
    if (ret < 0) {
        out->method = NULL; /* nothing of it can be used */
        out->num_headers = 0;
        return REFUSE(400, "malformed request head");
    }
    if (out->method_len == 0) /* picohttpparser 2.2.5 takes " / HTTP/1.1" */
        return REFUSE(400, "empty method");
    if (has_bare_lf(buf, (size_t)ret))
        return REFUSE(400, "line ending in a bare LF");
    for (size_t i = 0; i != out->num_headers; ++i)
        if (out->headers[i].name == NULL)
            return REFUSE(400, "folded header line");
    out->content_length = 0;
    if (request_framing(out, status, err) != 0 || request_expectation(out, status, err) != 0)
        return -1;
    out->keep_alive = request_keep_alive(out->minor_version, out->headers, out->num_headers);
    return ret;
}
