#include "http1_server.h"

#include <alloca.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"

const char sc_http1_body_too_large[] = "request body too large";
const char sc_http1_body_malformed[] = "broken chunked encoding";
const char sc_http1_body_timeout[] = "request body timeout";
const char sc_http1_body_closed[] = "client closed the connection";

/* The request body as the connection reads it for its handler. */
typedef struct body {
    sc_http1_body_t kind;
    uint64_t left;     /* SC_HTTP1_BODY_LENGTH: bytes still to come */
    uint64_t received; /* bytes passed to the handler so far */
    struct phr_chunked_decoder decoder;
    size_t decoded; /* SC_HTTP1_BODY_CHUNKED: decoded bytes at the start of the input, not yet passed */
    size_t held;    /* bytes at the start of the input passed to the handler, not yet consumed */
    sc_http1_body_cb cb;
    void *cb_ctx;
    unsigned expect_continue : 1, started : 1, decoded_all : 1, read_all : 1, failed : 1;
} body_t;

typedef enum {
    CONN_HEAD,   /* reading a request head */
    CONN_REQUEST /* a request is being handled: its response ends it */
} conn_state_t;

/* A response handed to the output stream while "100 Continue" is still being written. */
typedef struct deferred_send {
    h2o_iovec_t *bufs;
    size_t cnt;
    h2o_send_state_t state;
    int pending;
} deferred_send_t;

typedef struct conn {
    h2o_conn_t super;
    h2o_socket_t *sock;
    h2o_linklist_t link;                    /* this thread's connections */
    h2o_timeout_entry_t timeout;            /* reading: a head, or the next part of a body */
    h2o_timeout_t *send_timeout;            /* the worker's (sc_http1_server_accept) */
    h2o_timeout_entry_t send_timeout_entry; /* a write to the client under way */
    conn_state_t state;
    body_t body;
    h2o_ostream_t ostr;
    deferred_send_t deferred;
    size_t head_scanned; /* bytes of the input known not to hold the end of a head */
    unsigned reading : 1, sent_head : 1, writing_continue : 1, peer_closed : 1;
    h2o_req_t req; /* last: large, and initialised by h2o */
} conn_t;

/* A TLS handshake under way. */
typedef struct handshake {
    h2o_context_t *ctx;
    h2o_hostconf_t **hosts;
    h2o_timeout_t *send_timeout;
    h2o_socket_t *sock;
    struct timeval connected_at;
    h2o_timeout_entry_t timeout;
    h2o_linklist_t link;
} handshake_t;

static __thread h2o_linklist_t thread_conns, thread_handshakes;
/* Many clients can stop reading at once (or one peer with many connections): one line a second
 * per worker at most, the next one saying how many were held back. */
static __thread sc_log_throttle_t send_timeout_log = {.per_second = 1};
static sc_http1_server_stats_t stats; /* atomics */

static void on_read(h2o_socket_t *sock, const char *err);
static void deliver_body(conn_t *c);
static void fail_body(conn_t *c, const char *err);

static h2o_linklist_t *thread_list(h2o_linklist_t *list)
{
    if (list->next == NULL)
        h2o_linklist_init_anchor(list);
    return list;
}

/* ------------------------------------------------------------------ the connection */

static void set_reading(conn_t *c, int on)
{
    if (on == c->reading)
        return;
    c->reading = on;
    if (on)
        h2o_socket_read_start(c->sock, on_read);
    else
        h2o_socket_read_stop(c->sock);
}

static void set_timeout(conn_t *c, int on)
{
    if (h2o_timeout_is_linked(&c->timeout))
        h2o_timeout_unlink(&c->timeout);
    if (on)
        h2o_timeout_link(c->super.ctx->loop, &c->super.ctx->http1.req_timeout, &c->timeout);
}

/* Every write to the client runs the send timeout: libh2o calls back once all of it has reached
 * the socket, and a write that gets nowhere for that long closes the connection (on_send_timeout).
 * Nothing runs between writes: a response waiting for its backend is the backend's timeout's. */
static void write_to_client(conn_t *c, h2o_iovec_t *bufs, size_t cnt, h2o_socket_cb cb)
{
    if (h2o_timeout_is_linked(&c->send_timeout_entry))
        h2o_timeout_unlink(&c->send_timeout_entry);
    h2o_timeout_link(c->super.ctx->loop, c->send_timeout, &c->send_timeout_entry);
    h2o_socket_write(c->sock, bufs, cnt, cb);
}

/* A write completed (or failed): called first by each write callback. */
static void written_to_client(conn_t *c)
{
    if (h2o_timeout_is_linked(&c->send_timeout_entry))
        h2o_timeout_unlink(&c->send_timeout_entry);
}

/* The request is disposed first (its loggers run, its handler lets go of the backend, which may
 * still be writing a part of the body that lives in the socket's input), then the socket: a
 * write still pending is dropped with it. */
static void close_connection(conn_t *c)
{
    set_timeout(c, 0);
    written_to_client(c);
    c->body.cb = NULL;
    h2o_dispose_request(&c->req);
    h2o_linklist_unlink(&c->link);
    h2o_socket_close(c->sock);
    free(c);
}

static void on_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t cnt, h2o_send_state_t state);

static void init_request(conn_t *c, int reinit)
{
    if (reinit)
        h2o_dispose_request(&c->req);
    h2o_init_request(&c->req, &c->super, NULL);
    c->req._ostr_top = &c->ostr;
    memset(&c->ostr, 0, sizeof(c->ostr));
    c->ostr.do_send = on_send;
    memset(&c->body, 0, sizeof(c->body));
    c->sent_head = 0;
    c->head_scanned = 0;
}

/* ------------------------------------------------------------------ the request head */

static void handle_head(conn_t *c);

static void start_head(conn_t *c)
{
    c->state = CONN_HEAD;
    set_timeout(c, 1);
    set_reading(c, 1);
    if (c->sock->input->size != 0)
        handle_head(c);
}

static const char *phrase(int status)
{
    switch (status) {
    case 413:
        return "Request Entity Too Large";
    case 417:
        return "Expectation Failed";
    default:
        return "Bad Request";
    }
}

/* A request that no handler sees: answered (h2o binds it to the host's fallback path, where the
 * response filter makes the JSON error), then the connection closes. */
static void refuse(conn_t *c, int status, const char *why)
{
    h2o_req_t *req = &c->req;
    if (status != 413)
        __atomic_add_fetch(&stats.heads_refused, 1, __ATOMIC_RELAXED);
    if (req->input.method.base == NULL) { /* unreadable: answered, not logged (there is nothing to name) */
        req->input.method = h2o_iovec_init(H2O_STRLIT("-"));
        req->input.path = h2o_iovec_init(H2O_STRLIT("/"));
    }
    c->state = CONN_REQUEST;
    set_timeout(c, 0);
    set_reading(c, 0);
    h2o_send_error_generic(req, status, phrase(status), why, H2O_SEND_ERROR_HTTP1_CLOSE_CONNECTION);
}

/* h2o's conventions: names lower-cased (a token when h2o knows the name), the original spelling
 * kept for the backend; Host becomes the authority; the framing headers (and Expect, Upgrade) are
 * this module's, not the handlers'. */
static void add_headers(h2o_req_t *req, const sc_http1_request_t *parsed, const char *lower, const char *orig, const char *base)
{
    h2o_vector_reserve(&req->pool, &req->headers, parsed->num_headers);
    for (size_t i = 0; i != parsed->num_headers; ++i) {
        const struct phr_header *h = &parsed->headers[i];
        if (h->name == NULL)
            continue;
        size_t at = (size_t)(h->name - base);
        const char *name = lower + at;
        const h2o_token_t *token = h2o_lookup_token(name, h->name_len);
        h2o_iovec_t value = h2o_iovec_init(orig + (h->value - base), h->value_len);
        if (token != NULL && token->is_init_header_special) {
            if (token == H2O_TOKEN_HOST)
                req->input.authority = value;
            continue;
        }
        h2o_header_t *dst = req->headers.entries + req->headers.size++;
        if (token != NULL) {
            dst->name = (h2o_iovec_t *)&token->buf;
        } else {
            dst->name = h2o_mem_alloc_pool(&req->pool, sizeof(*dst->name));
            *dst->name = h2o_iovec_init(name, h->name_len);
        }
        dst->orig_name = orig + at;
        dst->value = value;
    }
}

/* The head is copied into the request's pool twice (as sent, and with lower-cased names), so the
 * request never points into the socket's input, which moves as more is read. */
static void fill_request(conn_t *c, const sc_http1_request_t *parsed, size_t head_len)
{
    h2o_req_t *req = &c->req;
    const char *base = c->sock->input->bytes;
    char *orig = h2o_mem_alloc_pool(&req->pool, head_len * 2), *lower = orig + head_len;
    memcpy(orig, base, head_len);
    memcpy(lower, base, head_len);
    for (size_t i = 0; i != parsed->num_headers; ++i)
        if (parsed->headers[i].name != NULL) /* NULL: a folded line, in a head refused for it */
            h2o_strtolower(lower + (parsed->headers[i].name - base), parsed->headers[i].name_len);
    req->input.method = h2o_iovec_init(orig + (parsed->method - base), parsed->method_len);
    req->input.path = h2o_iovec_init(orig + (parsed->path - base), parsed->path_len);
    req->input.scheme = c->sock->ssl != NULL ? &H2O_URL_SCHEME_HTTPS : &H2O_URL_SCHEME_HTTP;
    req->version = 0x100 | (parsed->minor_version != 0);
    add_headers(req, parsed, lower, orig, base);
    req->http1_is_persistent = parsed->keep_alive && !c->super.ctx->shutdown_requested;
    c->body.kind = parsed->body;
    c->body.left = parsed->content_length;
    c->body.expect_continue = parsed->expect_continue;
    c->body.decoder.consume_trailer = 1; /* the trailer section is the body's end, never a request */
}

/* Whether the input holds an empty line (CRLF CRLF, or with bare LFs, which the parser then
 * refuses): only then is the head parsed, so a head sent byte by byte costs linear time. */
static int head_may_be_complete(conn_t *c, size_t len)
{
    const char *p = c->sock->input->bytes;
    size_t i = c->head_scanned > 3 ? c->head_scanned - 3 : 0;
    for (; i < len; ++i)
        if (p[i] == '\n' && ((i + 1 < len && p[i + 1] == '\n') || (i + 2 < len && p[i + 1] == '\r' && p[i + 2] == '\n')))
            return 1;
    c->head_scanned = len;
    return 0;
}

static void handle_head(conn_t *c)
{
    h2o_buffer_t *in = c->sock->input;
    size_t len = in->size < SC_HTTP1_SERVER_MAX_HEAD ? in->size : SC_HTTP1_SERVER_MAX_HEAD;
    sc_http1_request_t parsed;
    int status = 400;
    const char *why = NULL;
    if (c->req.timestamps.request_begin_at.tv_sec == 0)
        c->req.timestamps.request_begin_at = *h2o_get_timestamp(c->super.ctx, NULL, NULL);
    int ret = head_may_be_complete(c, len) ? sc_http1_parse_request(in->bytes, len, &parsed, &status, &why) : -2;
    if (ret == -2) {
        if (len == SC_HTTP1_SERVER_MAX_HEAD)
            refuse(c, 400, "request head too large");
        return;
    }
    if (ret < 0) {
        if (parsed.method != NULL) /* the head was read: the error (and its log line) name the request */
            fill_request(c, &parsed, len);
        refuse(c, status, why);
        return;
    }
    fill_request(c, &parsed, (size_t)ret);
    h2o_buffer_consume(&c->sock->input, (size_t)ret);
    c->state = CONN_REQUEST;
    set_timeout(c, 0);
    /* keep reading (no system call) while little is buffered: a pipelined request or the body
     * waits in the input, the end of the connection is noticed */
    set_reading(c, c->sock->input->size < SC_HTTP1_SERVER_WINDOW);
    if (parsed.body == SC_HTTP1_BODY_LENGTH && parsed.content_length > c->super.ctx->globalconf->max_request_entity_size) {
        refuse(c, 413, "request entity is too large");
        return;
    }
    h2o_process_request(&c->req);
}

/* ------------------------------------------------------------------ reading */

static void on_read_error(conn_t *c)
{
    if (c->state == CONN_HEAD) {
        close_connection(c);
        return;
    }
    /* the response may still reach a client that only shut down its sending side */
    c->peer_closed = 1;
    set_reading(c, 0);
    if (c->body.cb != NULL && c->body.held == 0)
        deliver_body(c); /* a body that cannot end any more fails */
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    conn_t *c = sock->data;
    if (err != NULL) {
        on_read_error(c);
        return;
    }
    if (c->state == CONN_HEAD) {
        handle_head(c);
        return;
    }
    if (c->body.cb != NULL && c->body.held == 0)
        deliver_body(c);
    if (c->reading && c->body.held == 0 && sock->input->size >= SC_HTTP1_SERVER_WINDOW)
        set_reading(c, 0); /* a full window waits for the handler */
}

static void on_timeout(h2o_timeout_entry_t *entry)
{
    conn_t *c = H2O_STRUCT_FROM_MEMBER(conn_t, timeout, entry);
    if (c->state == CONN_HEAD) {
        close_connection(c);
        return;
    }
    if (c->body.cb != NULL && c->body.held == 0 && !c->body.read_all)
        fail_body(c, sc_http1_body_timeout);
}

/* ------------------------------------------------------------------ the body */

static void fail_body(conn_t *c, const char *err)
{
    sc_http1_body_cb cb = c->body.cb;
    c->body.cb = NULL;
    c->body.failed = 1;
    c->req.http1_is_persistent = 0;
    set_timeout(c, 0);
    set_reading(c, 0);
    cb(c->body.cb_ctx, h2o_iovec_init(NULL, 0), 0, err);
}

/* The next part of a chunked body: what is decoded so far (in place, at the start of the input).
 * Returns -1 on broken encoding. */
static int decode_chunked(body_t *b, h2o_buffer_t *in)
{
    size_t raw = in->size - b->decoded;
    if (raw == 0 || b->decoded_all)
        return 0;
    size_t len = raw;
    ssize_t ret = phr_decode_chunked(&b->decoder, in->bytes + b->decoded, &len);
    if (ret == -1)
        return -1;
    in->size = b->decoded + len + (ret >= 0 ? (size_t)ret : 0); /* what follows the body stays after it */
    b->decoded += len;
    b->decoded_all = ret >= 0;
    return 0;
}

/* Waits for more of the body: the socket is read, within the request timeout. */
static void wait_for_body(conn_t *c)
{
    if (c->peer_closed) {
        fail_body(c, sc_http1_body_closed);
        return;
    }
    if (!h2o_timeout_is_linked(&c->timeout))
        set_timeout(c, 1);
    set_reading(c, 1);
}

static void deliver_body(conn_t *c)
{
    body_t *b = &c->body;
    h2o_buffer_t *in = c->sock->input;
    size_t len;
    int end;
    if (b->cb == NULL || b->held != 0 || b->read_all)
        return;
    if (b->kind == SC_HTTP1_BODY_CHUNKED) {
        if (decode_chunked(b, in) != 0) {
            fail_body(c, sc_http1_body_malformed);
            return;
        }
        len = b->decoded;
        b->decoded = 0;
        end = b->decoded_all;
    } else { /* Content-Length (none: its end at once) */
        len = in->size < b->left ? in->size : (size_t)b->left;
        b->left -= len;
        end = b->left == 0;
    }
    if (len == 0 && !end) {
        wait_for_body(c);
        return;
    }
    if ((b->received += len) > c->super.ctx->globalconf->max_request_entity_size) {
        fail_body(c, sc_http1_body_too_large);
        return;
    }
    b->held = len;
    b->read_all = end;
    set_timeout(c, 0);
    if (len != 0)
        set_reading(c, 0); /* the input must not move while the handler holds a part of it */
    b->cb(b->cb_ctx, h2o_iovec_init(in->bytes, len), end, NULL);
}

static conn_t *conn_of(h2o_req_t *req)
{
    return H2O_STRUCT_FROM_MEMBER(conn_t, req, req);
}

uint64_t sc_http1_server_body_received(h2o_req_t *req)
{
    return conn_of(req)->body.received;
}

sc_http1_body_t sc_http1_server_body(h2o_req_t *req, uint64_t *content_length)
{
    conn_t *c = conn_of(req);
    *content_length = c->body.kind == SC_HTTP1_BODY_LENGTH ? c->body.left + c->body.received : 0;
    return c->body.kind;
}

static void on_continue_sent(h2o_socket_t *sock, const char *err)
{
    conn_t *c = sock->data;
    written_to_client(c);
    c->writing_continue = 0;
    if (c->deferred.pending) {
        c->deferred.pending = 0;
        on_send(&c->ostr, &c->req, c->deferred.bufs, c->deferred.cnt, c->deferred.state);
    }
    if (err != NULL)
        c->peer_closed = 1;
    deliver_body(c);
}

void sc_http1_server_read_body(h2o_req_t *req, sc_http1_body_cb cb, void *ctx)
{
    static const h2o_iovec_t continue_line = {H2O_STRLIT("HTTP/1.1 100 Continue\r\n\r\n")};
    conn_t *c = conn_of(req);
    c->body.cb = cb;
    c->body.cb_ctx = ctx;
    c->body.started = 1;
    if (c->body.expect_continue && !c->sent_head) {
        c->body.expect_continue = 0;
        c->writing_continue = 1;
        write_to_client(c, (h2o_iovec_t *)&continue_line, 1, on_continue_sent);
        return; /* the body follows once the client has it */
    }
    deliver_body(c);
}

void sc_http1_server_body_consumed(h2o_req_t *req)
{
    conn_t *c = conn_of(req);
    if (c->body.held == 0)
        return;
    h2o_buffer_consume(&c->sock->input, c->body.held);
    c->body.held = 0;
    if (c->body.read_all) {
        set_reading(c, !c->peer_closed && c->sock->input->size < SC_HTTP1_SERVER_WINDOW);
        return;
    }
    deliver_body(c);
}

/* ------------------------------------------------------------------ the response */

static h2o_iovec_t flatten_head(conn_t *c)
{
    h2o_req_t *req = &c->req;
    h2o_timestamp_t ts;
    size_t cap = 128 + strlen(req->res.reason) + H2O_TIMESTR_RFC1123_LEN;
    for (size_t i = 0; i != req->res.headers.size; ++i)
        cap += req->res.headers.entries[i].name->len + req->res.headers.entries[i].value.len + 4;
    char *buf = h2o_mem_alloc_pool(&req->pool, cap), *p = buf;
    h2o_get_timestamp(c->super.ctx, &req->pool, &ts);
    int status = req->res.status >= 100 && req->res.status <= 999 ? req->res.status : 500;
    p += sprintf(p, "HTTP/1.1 %d %s\r\nDate: %s\r\nConnection: %s\r\n", status, req->res.reason, ts.str->rfc1123,
                 req->http1_is_persistent ? "keep-alive" : "close");
    if (req->res.content_length != SIZE_MAX)
        p += sprintf(p, "Content-Length: %zu\r\n", req->res.content_length);
    for (size_t i = 0; i != req->res.headers.size; ++i) {
        const h2o_header_t *h = &req->res.headers.entries[i];
        memcpy(p, h->orig_name != NULL ? h->orig_name : h->name->base, h->name->len);
        p += h->name->len;
        *p++ = ':';
        *p++ = ' ';
        memcpy(p, h->value.base, h->value.len);
        p += h->value.len;
        *p++ = '\r';
        *p++ = '\n';
    }
    *p++ = '\r';
    *p++ = '\n';
    return h2o_iovec_init(buf, (size_t)(p - buf));
}

/* The connection can carry another request: the response said keep-alive and the body was read
 * to its end. */
static int reusable(conn_t *c)
{
    return c->req.http1_is_persistent && !c->peer_closed && !c->body.failed &&
           (c->body.kind == SC_HTTP1_BODY_NONE || c->body.read_all);
}

static void on_send_complete(h2o_socket_t *sock, const char *err)
{
    conn_t *c = sock->data;
    written_to_client(c);
    c->req.timestamps.response_end_at = *h2o_get_timestamp(c->super.ctx, NULL, NULL);
    if (c->body.kind != SC_HTTP1_BODY_NONE && !c->body.started)
        __atomic_add_fetch(&stats.bodies_withheld, 1, __ATOMIC_RELAXED);
    if (err != NULL || !reusable(c)) {
        close_connection(c);
        return;
    }
    if (c->body.held != 0) /* a last part the handler did not give back */
        h2o_buffer_consume(&c->sock->input, c->body.held);
    init_request(c, 1);
    start_head(c);
}

static void on_send_next(h2o_socket_t *sock, const char *err)
{
    conn_t *c = sock->data;
    written_to_client(c);
    if (err != NULL) {
        close_connection(c);
        return;
    }
    h2o_proceed_response(&c->req);
}

static void defer_send(conn_t *c, h2o_iovec_t *bufs, size_t cnt, h2o_send_state_t state)
{
    c->deferred.bufs = h2o_mem_alloc_pool(&c->req.pool, sizeof(*bufs) * (cnt + 1));
    if (cnt != 0)
        memcpy(c->deferred.bufs, bufs, sizeof(*bufs) * cnt);
    c->deferred.cnt = cnt;
    c->deferred.state = state;
    c->deferred.pending = 1;
}

static void on_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t cnt, h2o_send_state_t state)
{
    conn_t *c = conn_of(req);
    (void)self;
    if (c->writing_continue) {
        defer_send(c, bufs, cnt, state);
        return;
    }
    h2o_iovec_t *out = alloca(sizeof(*out) * (cnt + 1));
    size_t n = 0;
    if (!req->bytes_counted_by_ostream)
        for (size_t i = 0; i != cnt; ++i)
            req->bytes_sent += bufs[i].len;
    if (state == H2O_SEND_STATE_ERROR)
        req->http1_is_persistent = 0;
    if (!c->sent_head) {
        /* answered before its body was read whole: the rest of it cannot be told from a request */
        if (!reusable(c))
            req->http1_is_persistent = 0;
        req->timestamps.response_start_at = *h2o_get_timestamp(c->super.ctx, NULL, NULL);
        out[n++] = flatten_head(c);
        c->sent_head = 1;
    }
    if (cnt != 0)
        memcpy(out + n, bufs, sizeof(*out) * cnt);
    n += cnt;
    /* an empty write too: its callback comes from the loop, never from inside h2o_send */
    write_to_client(c, out, n, h2o_send_state_is_in_progress(state) ? on_send_next : on_send_complete);
}

/* A write to the client made no progress for the send timeout: the client stopped reading (its
 * receive window stays closed). The connection closes as for a client gone: the request is
 * disposed, which abandons its backend exchange (its connection closed, not pooled). */
static void on_send_timeout(h2o_timeout_entry_t *entry)
{
    conn_t *c = H2O_STRUCT_FROM_MEMBER(conn_t, send_timeout_entry, entry);
    char peer[NI_MAXHOST] = "-";
    struct sockaddr_storage ss;
    socklen_t len = h2o_socket_getpeername(c->sock, (void *)&ss);
    int32_t port = -1;
    if (len != 0 && h2o_socket_getnumerichost((void *)&ss, len, peer) != SIZE_MAX)
        port = h2o_socket_getport((void *)&ss);
    __atomic_add_fetch(&stats.send_timeouts, 1, __ATOMIC_RELAXED);
    sc_log_throttled(&send_timeout_log, SC_LOG_INFO,
                     "client %s port %" PRId32 ": a response write made no progress for %" PRIu64
                     " s (%zu body bytes handed to the socket): connection closed",
                     peer, port, c->send_timeout->timeout / 1000, c->req.bytes_sent);
    close_connection(c);
}

/* ------------------------------------------------------------------ accepting */

static socklen_t get_sockname(h2o_conn_t *conn, struct sockaddr *sa)
{
    return h2o_socket_getsockname(((conn_t *)conn)->sock, sa);
}

static socklen_t get_peername(h2o_conn_t *conn, struct sockaddr *sa)
{
    return h2o_socket_getpeername(((conn_t *)conn)->sock, sa);
}

static h2o_socket_t *get_socket(h2o_conn_t *conn)
{
    return ((conn_t *)conn)->sock;
}

static void start_connection(h2o_context_t *ctx, h2o_hostconf_t **hosts, h2o_timeout_t *send_timeout, h2o_socket_t *sock,
                             struct timeval connected_at)
{
    static const h2o_conn_callbacks_t callbacks = {
        .get_sockname = get_sockname, .get_peername = get_peername, .get_socket = get_socket};
    conn_t *c = (void *)h2o_create_connection(sizeof(*c), ctx, hosts, connected_at, &callbacks);
    memset((char *)c + sizeof(c->super), 0, offsetof(conn_t, req) - sizeof(c->super));
    c->sock = sock;
    sock->data = c;
    c->timeout.cb = on_timeout;
    c->send_timeout = send_timeout;
    c->send_timeout_entry.cb = on_send_timeout;
    h2o_linklist_insert(thread_list(&thread_conns), &c->link);
    init_request(c, 0);
    start_head(c);
}

static void end_handshake(handshake_t *hs)
{
    h2o_timeout_unlink(&hs->timeout);
    h2o_linklist_unlink(&hs->link);
    free(hs);
}

static void on_handshake(h2o_socket_t *sock, const char *err)
{
    handshake_t *hs = sock->data;
    h2o_context_t *ctx = hs->ctx;
    h2o_hostconf_t **hosts = hs->hosts;
    h2o_timeout_t *send_timeout = hs->send_timeout;
    struct timeval connected_at = hs->connected_at;
    end_handshake(hs);
    if (err != NULL) {
        h2o_socket_close(sock);
        return;
    }
    start_connection(ctx, hosts, send_timeout, sock, connected_at);
}

static void on_handshake_timeout(h2o_timeout_entry_t *entry)
{
    handshake_t *hs = H2O_STRUCT_FROM_MEMBER(handshake_t, timeout, entry);
    h2o_socket_t *sock = hs->sock;
    end_handshake(hs);
    h2o_socket_close(sock);
}

void sc_http1_server_accept(h2o_accept_ctx_t *accept_ctx, h2o_timeout_t *send_timeout, h2o_socket_t *sock)
{
    h2o_context_t *ctx = accept_ctx->ctx;
    struct timeval connected_at = *h2o_get_timestamp(ctx, NULL, NULL);
    int rcvbuf = SC_HTTP1_SERVER_WINDOW;
    /* one read never pulls more than the window, however fast the client sends */
    setsockopt(h2o_socket_get_fd(sock), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    if (accept_ctx->ssl_ctx == NULL) {
        start_connection(ctx, accept_ctx->hosts, send_timeout, sock, connected_at);
        return;
    }
    handshake_t *hs = h2o_mem_alloc(sizeof(*hs));
    *hs = (handshake_t){
        .ctx = ctx, .hosts = accept_ctx->hosts, .send_timeout = send_timeout, .sock = sock, .connected_at = connected_at};
    hs->timeout.cb = on_handshake_timeout;
    h2o_timeout_link(ctx->loop, &ctx->handshake_timeout, &hs->timeout);
    h2o_linklist_insert(thread_list(&thread_handshakes), &hs->link);
    sock->data = hs;
    h2o_socket_ssl_handshake(sock, accept_ctx->ssl_ctx, NULL, on_handshake);
}

/* ------------------------------------------------------------------ draining, metrics */

size_t sc_http1_server_close_idle(void)
{
    h2o_linklist_t *handshakes = thread_list(&thread_handshakes), *conns = thread_list(&thread_conns);
    while (!h2o_linklist_is_empty(handshakes))
        on_handshake_timeout(&H2O_STRUCT_FROM_MEMBER(handshake_t, link, handshakes->next)->timeout);
    size_t open = 0;
    for (h2o_linklist_t *node = conns->next, *next; node != conns; node = next) {
        next = node->next;
        conn_t *c = H2O_STRUCT_FROM_MEMBER(conn_t, link, node);
        if (c->state == CONN_HEAD)
            close_connection(c);
        else
            ++open;
    }
    return open;
}

void sc_http1_server_stats(sc_http1_server_stats_t *out)
{
    out->heads_refused = __atomic_load_n(&stats.heads_refused, __ATOMIC_RELAXED);
    out->bodies_withheld = __atomic_load_n(&stats.bodies_withheld, __ATOMIC_RELAXED);
    out->send_timeouts = __atomic_load_n(&stats.send_timeouts, __ATOMIC_RELAXED);
}
