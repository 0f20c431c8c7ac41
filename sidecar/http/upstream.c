#include "upstream.h"

#include <string.h>

#include "http1_parse.h"
#include "http1_server.h"
#include "http_error.h"
#include "log.h"
#include "upstream_pool.h"

/* Response heads larger than this are refused. */
#define MAX_RESPONSE_HEAD (64 * 1024)
/* A request this small goes out in one writev onto an idle connection's empty send queue: when
 * that writev fails, none of it was written. */
#define UNSENT_IF_FAILED_MAX 16384

typedef struct exchange {
    h2o_generator_t super;
    sc_request_t *r;
    h2o_req_t *req;
    sc_upstream_pool_t *pool;
    sc_upstream_conn_t *conn; /* NULL once given back or closed */
    h2o_timeout_entry_t timeout;
    h2o_iovec_t head; /* the request head */
    size_t req_len;   /* bytes of the first write: the head and the body part that went with it */

    /* the request body, as the client sends it (http1_server.h) */
    sc_http1_body_t req_body;
    h2o_iovec_t part; /* received, not yet written (when part_ready) */
    char chunk_size[24];
    unsigned part_ready : 1, part_end : 1, writing_part : 1, body_sent : 1, body_consumed : 1, head_written : 1;
    unsigned connected : 1;
    sc_http1_body_t body;
    uint64_t body_left;
    struct phr_chunked_decoder chunked;
    h2o_buffer_t *in;  /* body read, waiting for the client */
    h2o_buffer_t *out; /* body being written to the client */
    unsigned retried : 1, writing : 1, got_bytes : 1, head_sent : 1, keep_alive : 1;
    unsigned upstream_done : 1, sending : 1, paused : 1, abort_pending : 1, finished : 1;
} exchange_t;

static void start_attempt(exchange_t *x);
static void on_read(h2o_socket_t *sock, const char *err);

/* ------------------------------------------------------------------ the connection */

static void stop_timer(exchange_t *x)
{
    if (h2o_timeout_is_linked(&x->timeout))
        h2o_timeout_unlink(&x->timeout);
}

static void restart_timer(exchange_t *x)
{
    stop_timer(x);
    h2o_timeout_link(x->req->conn->ctx->loop, sc_upstream_pool_io_timeout(x->pool), &x->timeout);
}

/* Ends the exchange's use of its connection: back to the pool when it can carry another request. */
static void release_conn(exchange_t *x, int reusable)
{
    stop_timer(x);
    if (x->conn == NULL)
        return;
    if (reusable)
        sc_upstream_pool_give_back(x->conn);
    else
        sc_upstream_pool_close(x->conn); /* a write in flight goes with it */
    x->conn = NULL;
    x->paused = x->connected = x->writing = x->writing_part = 0;
}

/* ------------------------------------------------------------------ towards the client */

/* Sends what the backend sent so far, unless the client is still writing the previous part. */
static void pump(exchange_t *x)
{
    if (x->sending || x->finished)
        return;
    if (x->abort_pending) {
        x->finished = 1;
        h2o_send(x->req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    if (x->in->size == 0 && !x->upstream_done)
        return;
    h2o_buffer_t *swap = x->out;
    x->out = x->in;
    x->in = swap;
    x->sending = 1;
    x->finished = x->upstream_done;
    h2o_iovec_t buf = h2o_iovec_init(x->out->bytes, x->out->size);
    h2o_send(x->req, &buf, buf.len != 0, x->upstream_done ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
    if (x->paused && x->conn != NULL) { /* room again in `in` */
        x->paused = 0;
        h2o_socket_read_start(x->conn->sock, on_read);
    }
}

static void on_proceed(h2o_generator_t *generator, h2o_req_t *req)
{
    exchange_t *x = (void *)generator;
    x->sending = 0;
    h2o_buffer_consume(&x->out, x->out->size);
    pump(x);
}

/* The client went away while the body streamed. */
static void on_stop(h2o_generator_t *generator, h2o_req_t *req)
{
    exchange_t *x = (void *)generator;
    x->finished = 1;
    release_conn(x, 0);
}

/* A response already started cannot become an error: the client's connection closes without the
 * end of the body. */
static void abort_client(exchange_t *x)
{
    x->abort_pending = 1;
    pump(x);
}

static void fail(exchange_t *x, int status, const char *why)
{
    sc_request_t *r = x->r;
    release_conn(x, 0);
    sc_log_throttled(r->env->upstream_log, SC_LOG_WARN, "service %s: upstream %s: %s%s (request %s)", r->service->name,
                     r->service->upstream, why, x->head_sent ? " (response cut short)" : "", r->id);
    if (x->head_sent) {
        abort_client(x);
        return;
    }
    x->finished = 1;
    r->proxy_failed = 1;
    if (status == 504)
        sc_http_error_send(x->req, 504, "upstream_timeout", "the service did not answer in time", r->id);
    else
        sc_http_error_send(x->req, 502, "upstream_unavailable", "the service is unavailable", r->id);
}

static void on_timeout(h2o_timeout_entry_t *entry)
{
    exchange_t *x = H2O_STRUCT_FROM_MEMBER(exchange_t, timeout, entry);
    int awaiting_body = x->req_body != SC_HTTP1_BODY_NONE && !x->body_sent && !x->writing && !x->part_ready;
    if (x->sending || awaiting_body) { /* waiting for the client, not for the backend */
        restart_timer(x);
        return;
    }
    fail(x, 504, "I/O timeout");
}

/* ------------------------------------------------------------------ the response */

static int is_idempotent(h2o_iovec_t m)
{
    static const char *const methods[] = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE", NULL};
    for (const char *const *p = methods; *p != NULL; ++p)
        if (h2o_memis(m.base, m.len, *p, strlen(*p)))
            return 1;
    return 0;
}

/* The connection failed before any byte of a response: a reused one may have been closed by the
 * backend just as it was taken, and the request is sent again when that cannot do harm. */
static void connection_failed(exchange_t *x, const char *err, int in_write)
{
    int may_retry = x->conn != NULL && x->conn->reused && !x->retried && !x->got_bytes && !x->body_consumed &&
                    (is_idempotent(x->req->method) || (in_write && x->req_len <= UNSENT_IF_FAILED_MAX));
    release_conn(x, 0);
    if (!may_retry) {
        fail(x, 502, err);
        return;
    }
    x->retried = 1;
    start_attempt(x);
}

static void append(h2o_buffer_t **buf, const char *src, size_t len)
{
    if (len == 0)
        return;
    h2o_iovec_t room = h2o_buffer_reserve(buf, len);
    memcpy(room.base, src, len);
    (*buf)->size += len;
}

/* The backend's part is over: its connection goes back to the pool if it can carry another
 * request (nothing unread after the body, the request fully written, keep-alive). */
static void upstream_complete(exchange_t *x, int leftover)
{
    x->upstream_done = 1;
    int request_whole = x->req_body == SC_HTTP1_BODY_NONE ? x->head_written : x->body_sent;
    release_conn(x, x->keep_alive && !x->writing && request_whole && !leftover);
}

/* Moves the body bytes read so far into `in` (decoded). -1 on a broken chunked encoding. */
static int take_body(exchange_t *x)
{
    h2o_buffer_t **input = &x->conn->sock->input;
    size_t avail = (*input)->size;
    switch (x->body) {
    case SC_HTTP1_BODY_NONE:
        upstream_complete(x, avail != 0);
        return 0;
    case SC_HTTP1_BODY_LENGTH: {
        size_t n = avail < x->body_left ? avail : (size_t)x->body_left;
        append(&x->in, (*input)->bytes, n);
        h2o_buffer_consume(input, n);
        if ((x->body_left -= n) == 0)
            upstream_complete(x, avail != n);
        return 0;
    }
    case SC_HTTP1_BODY_CHUNKED: {
        size_t decoded = avail;
        ssize_t ret = phr_decode_chunked(&x->chunked, (*input)->bytes, &decoded);
        if (ret == -1)
            return -1;
        append(&x->in, (*input)->bytes, decoded);
        h2o_buffer_consume(input, avail);
        if (ret >= 0)
            upstream_complete(x, ret != 0);
        return 0;
    }
    case SC_HTTP1_BODY_CLOSE:
        append(&x->in, (*input)->bytes, avail);
        h2o_buffer_consume(input, avail);
        return 0;
    }
    return 0;
}

static int has_header(const sc_http1_response_t *resp, const char *name)
{
    for (size_t i = 0; i != resp->num_headers; ++i)
        if (h2o_lcstris(resp->headers[i].name, resp->headers[i].name_len, name, strlen(name)))
            return 1;
    return 0;
}

/* A Location naming the backend itself ("http://127.0.0.1:5000/next") becomes the path alone:
 * the client cannot reach the backend's address, and a relative reference resolves against the
 * address it used. */
static h2o_iovec_t rewrite_location(exchange_t *x, h2o_iovec_t value)
{
    h2o_iovec_t authority = sc_upstream_pool_authority(x->pool);
    size_t prefix = sizeof("http://") - 1 + authority.len;
    if (value.len < prefix || !h2o_lcstris(value.base, 7, H2O_STRLIT("http://")) ||
        !h2o_memis(value.base + 7, authority.len, authority.base, authority.len))
        return value;
    if (value.len == prefix)
        return h2o_iovec_init(H2O_STRLIT("/"));
    if (value.base[prefix] != '/')
        return value;
    return h2o_iovec_init(value.base + prefix, value.len - prefix);
}

/* The response head as the client gets it: copied (the input buffer is reused), hop-by-hop
 * headers and the backend's Date left out (h2o writes its own). */
static void copy_head(exchange_t *x, const sc_http1_response_t *resp, int head)
{
    h2o_req_t *req = x->req;
    req->res.status = resp->status;
    req->res.reason = h2o_strdup(&req->pool, resp->reason, resp->reason_len).base;
    for (size_t i = 0; i != resp->num_headers; ++i) {
        const struct phr_header *h = &resp->headers[i];
        if (sc_http1_parse_response_drops(resp, i) || h2o_lcstris(h->name, h->name_len, H2O_STRLIT("date")))
            continue;
        h2o_iovec_t orig = h2o_strdup(&req->pool, h->name, h->name_len);
        h2o_iovec_t name = h2o_strdup(&req->pool, h->name, h->name_len);
        h2o_strtolower(name.base, name.len);
        h2o_iovec_t value = h2o_strdup(&req->pool, h->value, h->value_len);
        if (h2o_memis(name.base, name.len, H2O_STRLIT("location")))
            value = rewrite_location(x, value);
        h2o_add_header_by_str(&req->pool, &req->res.headers, name.base, name.len, 1, orig.base, value.base, value.len);
    }
    /* a HEAD answer keeps the length a GET would have had */
    if (resp->body == SC_HTTP1_BODY_LENGTH || (head && has_header(resp, "content-length")))
        req->res.content_length = resp->content_length;
}

/* Reads the response head (skipping interim 1xx ones). 0 once it is sent to the client, -1 while
 * it is incomplete or when the exchange failed. */
static int read_head(exchange_t *x)
{
    h2o_buffer_t **input = &x->conn->sock->input;
    int head = h2o_memis(x->req->method.base, x->req->method.len, H2O_STRLIT("HEAD"));
    sc_http1_response_t resp;
    const char *err = NULL;
    int ret;
    for (;;) {
        ret = sc_http1_parse_response((*input)->bytes, (*input)->size, head, &resp, &err);
        if (ret == -2) {
            if ((*input)->size > MAX_RESPONSE_HEAD)
                fail(x, 502, "response head too large");
            return -1;
        }
        if (ret < 0) {
            fail(x, 502, err);
            return -1;
        }
        if (resp.status >= 200)
            break;
        if (resp.status == 101) {
            fail(x, 502, "unrequested protocol switch");
            return -1;
        }
        h2o_buffer_consume(input, (size_t)ret); /* 100 Continue and other interim responses */
        if ((*input)->size == 0)
            return -1;
    }
    copy_head(x, &resp, head);
    x->body = resp.body;
    x->body_left = resp.content_length;
    x->keep_alive = resp.keep_alive;
    x->chunked.consume_trailer = 1;
    h2o_buffer_consume(input, (size_t)ret);
    x->head_sent = 1;
    h2o_start_response(x->req, &x->super);
    return 0;
}

static void on_read_error(exchange_t *x, const char *err)
{
    if (!x->head_sent) {
        if (x->got_bytes)
            fail(x, 502, "connection closed in the response head");
        else
            connection_failed(x, err, 0);
        return;
    }
    if (x->body == SC_HTTP1_BODY_CLOSE && err == h2o_socket_error_closed) {
        upstream_complete(x, 0); /* the end of a close-delimited body */
        pump(x);
        return;
    }
    fail(x, 502, "connection closed in the response body");
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    exchange_t *x = sock->data;
    if (sock->input->size != 0)
        x->got_bytes = 1;
    if (err != NULL) {
        on_read_error(x, err);
        return;
    }
    restart_timer(x);
    if (!x->head_sent && read_head(x) != 0)
        return;
    if (x->conn != NULL && take_body(x) != 0) {
        fail(x, 502, "broken chunked encoding");
        return;
    }
    pump(x);
    /* backpressure: a full window waits for the client before more is read */
    if (x->conn != NULL && x->in->size >= SC_UPSTREAM_WINDOW) {
        x->paused = 1;
        h2o_socket_read_stop(x->conn->sock);
    }
}

/* ------------------------------------------------------------------ the request */

static void write_request(exchange_t *x);

/* The body failed on the client's side: the backend got part of a request, so its connection
 * closes; the client gets the error unless the response has started. */
static void body_failed(exchange_t *x, const char *err)
{
    static const struct {
        const char *err;
        int status;
        const char *reason, *message;
    } answers[] = {{sc_http1_body_too_large, 413, NULL, "the request body is too large"},
                   {sc_http1_body_malformed, 400, "body_malformed", "the request body is not valid chunked encoding"},
                   {sc_http1_body_timeout, 408, NULL, "the request body did not arrive in time"},
                   {sc_http1_body_closed, 400, "body_incomplete", "the request body ended early"}};
    size_t i = 0;
    while (i + 1 < sizeof(answers) / sizeof(answers[0]) && answers[i].err != err)
        ++i;
    release_conn(x, 0);
    x->part_ready = 0;
    if (x->head_sent) {
        abort_client(x);
        return;
    }
    x->finished = 1;
    sc_http_error_send(x->req, answers[i].status, answers[i].reason, answers[i].message, x->r->id);
}

static void on_body(void *ctx, h2o_iovec_t data, int end, const char *err)
{
    exchange_t *x = ctx;
    if (x->finished || x->upstream_done)
        return; /* not consumed: the client is no longer read */
    if (err != NULL) {
        body_failed(x, err);
        return;
    }
    x->part = data;
    x->part_end = end;
    x->part_ready = 1;
    write_request(x);
}

static void on_write_done(h2o_socket_t *sock, const char *err)
{
    exchange_t *x = sock->data;
    x->writing = 0;
    if (err != NULL) {
        if (!x->head_sent)
            connection_failed(x, err, 1);
        return; /* the response, if any, ends with the connection */
    }
    x->head_written = 1;
    restart_timer(x); /* progress */
    if (x->writing_part) {
        x->writing_part = x->part_ready = 0;
        x->body_sent = x->part_end;
        if (x->part.len != 0) {
            x->body_consumed = 1;
            sc_http1_server_body_consumed(x->req); /* may pass the next part, and write it, at once */
        }
    }
    write_request(x); /* a part that arrived while the head alone was being written */
}

/* Writes what can go now: the head (the first time) and the part of the body received. */
static void write_request(exchange_t *x)
{
    static const h2o_iovec_t crlf = {H2O_STRLIT("\r\n")}, last_chunk = {H2O_STRLIT("0\r\n\r\n")};
    h2o_iovec_t bufs[5];
    size_t n = 0, body_bytes = 0;
    if (x->writing || !x->connected)
        return;
    if (!x->head_written)
        bufs[n++] = x->head;
    if (x->part_ready) {
        int chunked = x->req_body == SC_HTTP1_BODY_CHUNKED;
        if (chunked && x->part.len != 0)
            bufs[n++] = h2o_iovec_init(x->chunk_size, (size_t)sprintf(x->chunk_size, "%zx\r\n", x->part.len));
        if (x->part.len != 0)
            bufs[n++] = x->part;
        if (chunked && x->part.len != 0)
            bufs[n++] = crlf;
        if (chunked && x->part_end)
            bufs[n++] = last_chunk;
        body_bytes = x->part.len;
        x->writing_part = 1;
    }
    if (n == 0)
        return;
    if (!x->head_written)
        x->req_len = x->head.len + body_bytes;
    x->writing = 1;
    restart_timer(x);
    h2o_socket_write(x->conn->sock, bufs, n, on_write_done);
}

static void send_request(exchange_t *x)
{
    h2o_socket_t *sock = x->conn->sock;
    sock->data = x;
    h2o_socket_read_start(sock, on_read); /* a pooled connection is read already: no system call */
    x->connected = 1;
    x->head_written = 0;
    write_request(x);
}

static void on_connect(h2o_socket_t *sock, const char *err)
{
    exchange_t *x = sock->data;
    if (err != NULL) {
        release_conn(x, 0);
        fail(x, 502, err);
        return;
    }
    send_request(x);
}

static void start_attempt(exchange_t *x)
{
    /* a retry takes a new connection: another idle one may have been closed just the same */
    if (!x->retried && (x->conn = sc_upstream_pool_take(x->pool)) != NULL) {
        send_request(x);
        return;
    }
    if ((x->conn = sc_upstream_pool_connect(x->pool, on_connect, x)) == NULL) {
        fail(x, 502, "cannot connect");
        return;
    }
    restart_timer(x);
}

/* Headers the backend must not see from the client: hop-by-hop ones, those a Connection header
 * names, and the framing and Host, which are ours. */
static int request_drops(const h2o_headers_t *headers, const h2o_iovec_t *name)
{
    if (name->len == 0 || sc_http1_parse_is_hop_by_hop(name->base, name->len) ||
        h2o_lcstris(name->base, name->len, H2O_STRLIT("host")) || h2o_lcstris(name->base, name->len, H2O_STRLIT("content-length")))
        return 1;
    for (size_t i = 0; i != headers->size; ++i) {
        const h2o_header_t *h = &headers->entries[i];
        if (h2o_lcstris(h->name->base, h->name->len, H2O_STRLIT("connection")) &&
            sc_http1_parse_list_has(h->value.base, h->value.len, name->base, name->len))
            return 1;
    }
    return 0;
}

static char *put(char *dst, const char *src, size_t len)
{
    memcpy(dst, src, len);
    return dst + len;
}

#define PUT_LIT(dst, lit) put((dst), (lit), sizeof(lit) - 1)

/* The request head, in the request's pool: the body keeps the client's framing (chunked stays
 * chunked, re-encoded part by part; a length stays that length). */
static void build_head(exchange_t *x)
{
    h2o_req_t *req = x->req;
    h2o_iovec_t authority = sc_upstream_pool_authority(x->pool);
    uint64_t length = 0;
    x->req_body = sc_http1_server_body(req, &length);
    int with_length = x->req_body == SC_HTTP1_BODY_LENGTH || h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")) ||
                      h2o_memis(req->method.base, req->method.len, H2O_STRLIT("PUT"));
    size_t cap = req->method.len + req->path.len + authority.len + 128;
    for (size_t i = 0; i != req->headers.size; ++i)
        cap += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    char *head = h2o_mem_alloc_pool(&req->pool, cap), *p = head;
    p = put(p, req->method.base, req->method.len);
    *p++ = ' ';
    p = put(p, req->path.base, req->path.len);
    p = PUT_LIT(p, " HTTP/1.1\r\nhost: ");
    p = put(p, authority.base, authority.len);
    p = PUT_LIT(p, "\r\nconnection: keep-alive\r\n");
    if (x->req_body == SC_HTTP1_BODY_CHUNKED)
        p = PUT_LIT(p, "transfer-encoding: chunked\r\n");
    else if (with_length)
        p += sprintf(p, "content-length: %llu\r\n", (unsigned long long)length);
    for (size_t i = 0; i != req->headers.size; ++i) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (request_drops(&req->headers, h->name))
            continue;
        p = put(p, h->orig_name != NULL ? h->orig_name : h->name->base, h->name->len);
        p = PUT_LIT(p, ": ");
        p = put(p, h->value.base, h->value.len);
        p = PUT_LIT(p, "\r\n");
    }
    p = PUT_LIT(p, "\r\n");
    x->head = h2o_iovec_init(head, (size_t)(p - head));
}

/* With the request's pool: whatever the exchange still holds. */
static void on_dispose(void *p)
{
    exchange_t *x = p;
    release_conn(x, 0);
    h2o_buffer_dispose(&x->in);
    h2o_buffer_dispose(&x->out);
}

void sc_upstream_forward(sc_request_t *r)
{
    h2o_req_t *req = r->req;
    exchange_t *x = h2o_mem_alloc_shared(&req->pool, sizeof(*x), on_dispose);
    memset(x, 0, sizeof(*x));
    x->super.proceed = on_proceed;
    x->super.stop = on_stop;
    x->r = r;
    x->req = req;
    x->pool = r->env->upstream_pools[r->service_index];
    x->timeout.cb = on_timeout;
    h2o_buffer_init(&x->in, &h2o_socket_buffer_prototype);
    h2o_buffer_init(&x->out, &h2o_socket_buffer_prototype);
    build_head(x);
    if (x->req_body != SC_HTTP1_BODY_NONE) {
        sc_http1_server_read_body(req, on_body, x); /* what is already buffered goes with the head */
        if (x->finished)
            return;
    }
    start_attempt(x);
}
