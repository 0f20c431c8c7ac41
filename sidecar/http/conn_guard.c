#include "conn_guard.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "headers.h"
#include "http1_parse.h"
#include "log.h"
#include "request_id.h"

struct sc_conn_guard {
    uint64_t max_connections, max_buffered;
    uint64_t connections, buffered; /* atomics */
    uint64_t uploads_refused, bodies_withheld;
    int over_cap_logged;
};

/* Where a connection is in its current request, as far as the guard can tell. */
typedef enum {
    CONN_HEAD,      /* the next bytes are a request head */
    CONN_BODY,      /* the head was read; the body (if any) is arriving */
    CONN_PROCESSING /* the pipeline has the request: the next read_start begins another */
} conn_state_t;

struct sc_conn {
    sc_conn_guard_t *guard;
    h2o_socket_cb h2o_read; /* h2o's read callback, called after ours */
    sc_conn_early_answer_cb early;
    void *early_ctx;
    conn_state_t state;
    int has_body;
    int withheld;     /* the body of the current request is withheld: answered before it */
    int client_cert;  /* the handshake required a verified client certificate (trusted_proxies.h) */
    size_t accounted; /* of sock->input->size, counted in guard->buffered */
    h2o_iovec_t refusal;
    char refusal_buf[512];
};

static void (*real_read_start)(h2o_socket_t *sock, h2o_socket_cb cb);
static void on_conn_close(void *data);
static void on_read(h2o_socket_t *sock, const char *err);

/* ------------------------------------------------------------------ accounting */

static void account(sc_conn_t *c, size_t now)
{
    if (now >= c->accounted)
        __atomic_add_fetch(&c->guard->buffered, now - c->accounted, __ATOMIC_RELAXED);
    else
        __atomic_sub_fetch(&c->guard->buffered, c->accounted - now, __ATOMIC_RELAXED);
    c->accounted = now;
}

static int over_cap(sc_conn_guard_t *g)
{
    uint64_t buffered = __atomic_load_n(&g->buffered, __ATOMIC_RELAXED);
    if (buffered <= g->max_buffered) {
        if (buffered < g->max_buffered / 2 && __atomic_load_n(&g->over_cap_logged, __ATOMIC_RELAXED))
            __atomic_store_n(&g->over_cap_logged, 0, __ATOMIC_RELAXED); /* the episode is over */
        return 0;
    }
    if (!__atomic_exchange_n(&g->over_cap_logged, 1, __ATOMIC_RELAXED))
        sc_log_warn("max_buffered_body_bytes (%llu) reached: new request bodies are refused with 503 until uploads finish",
                    (unsigned long long)g->max_buffered);
    return 1;
}

/* ------------------------------------------------------------------ the request head */

static int is_body_header(const struct phr_header *h)
{
    return sc_headers_name_loose_eq(h->name, h->name_len, H2O_STRLIT("content-length")) ||
           sc_headers_name_loose_eq(h->name, h->name_len, H2O_STRLIT("transfer-encoding"));
}

static int declares_body(const struct phr_header *h)
{
    if (h->name_len == sizeof("content-length") - 1 && h2o_lcstris(h->name, h->name_len, H2O_STRLIT("content-length")))
        return !(h->value_len == 1 && h->value[0] == '0');
    return h->name_len == sizeof("transfer-encoding") - 1 && h2o_lcstris(h->name, h->name_len, H2O_STRLIT("transfer-encoding"));
}

static int is_credential_header(const struct phr_header *h)
{
    return sc_headers_name_loose_eq(h->name, h->name_len, H2O_STRLIT("authorization")) ||
           sc_headers_name_loose_eq(h->name, h->name_len, H2O_STRLIT("x-api-key"));
}

/* Overwrites a header name in the input buffer: h2o then sees a request without a body. */
static void withhold(const struct phr_header *h)
{
    char *name = (char *)h->name;
    memset(name, '-', h->name_len);
    memcpy(name, "x-sc-withheld", h->name_len < 13 ? h->name_len : 13);
}

static void read_head(sc_conn_t *c, h2o_socket_t *sock)
{
    struct phr_header headers[H2O_MAX_HEADERS];
    size_t num_headers = H2O_MAX_HEADERS, method_len, path_len;
    const char *method, *path;
    int minor;
    size_t len = sock->input->size < H2O_MAX_REQLEN ? sock->input->size : H2O_MAX_REQLEN;
    int ret = phr_parse_request(sock->input->bytes, len, &method, &method_len, &path, &path_len, &minor, headers, &num_headers, 0);
    if (ret == -2)
        return; /* incomplete */
    c->state = CONN_BODY;
    c->has_body = c->withheld = 0;
    if (ret < 0)
        return; /* h2o answers 400 and closes */
    int has_credentials = 0;
    for (size_t i = 0; i != num_headers; ++i) {
        if (headers[i].name == NULL) /* an obs-fold continuation */
            continue;
        c->has_body |= declares_body(&headers[i]);
        has_credentials |= is_credential_header(&headers[i]);
    }
    if (!c->has_body || !c->early(c->early_ctx, method, method_len, path, path_len, has_credentials))
        return;
    for (size_t i = 0; i != num_headers; ++i)
        if (headers[i].name != NULL && is_body_header(&headers[i]))
            withhold(&headers[i]);
    c->withheld = 1;
    c->has_body = 0;
    __atomic_add_fetch(&c->guard->bodies_withheld, 1, __ATOMIC_RELAXED);
}

static void inspect(sc_conn_t *c, h2o_socket_t *sock)
{
    account(c, sock->input->size);
    if (c->state == CONN_HEAD)
        read_head(c, sock);
}

/* ------------------------------------------------------------------ refusing an upload */

/*
 * After the 503, what the client still sends is read and dropped until it closes (it was told
 * "Connection: close"), or h2o's request timeout closes the connection: closing at once, with
 * unread bytes, would reset the connection and could lose the answer. Then h2o closes the
 * connection (and frees its request) as for a client that went away.
 */
static void on_drain(h2o_socket_t *sock, const char *err)
{
    sc_conn_t *c = sock->on_close.data;
    h2o_buffer_consume(&sock->input, sock->input->size);
    account(c, 0);
    if (err != NULL)
        c->h2o_read(sock, err);
}

static void on_refusal_written(h2o_socket_t *sock, const char *err)
{
    sc_conn_t *c = sock->on_close.data;
    if (err != NULL) {
        c->h2o_read(sock, err);
        return;
    }
    real_read_start(sock, on_drain);
}

static void refuse(sc_conn_t *c, h2o_socket_t *sock)
{
    static const char message[] = "too many request bodies are being received at once: retry later";
    char id[SC_REQUEST_ID_LEN + 1], body[256];
    sc_request_id_generate(id);
    int body_len = snprintf(
        body, sizeof(body),
        "{\"error\":\"service_unavailable\",\"reason\":\"uploads_busy\",\"message\":\"%s\",\"request_id\":\"%s\"}\n", message, id);
    int len = snprintf(c->refusal_buf, sizeof(c->refusal_buf),
                       "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
                       "Retry-After: 1\r\nX-Request-Id: %s\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
                       id, body_len, body);
    c->refusal = h2o_iovec_init(c->refusal_buf, (size_t)len);
    /* the body is never used (h2o keeps its own copy of the head): its bytes are released now,
     * before the answer can reach the client and the client try again */
    h2o_buffer_consume(&sock->input, sock->input->size);
    account(c, 0);
    __atomic_add_fetch(&c->guard->uploads_refused, 1, __ATOMIC_RELAXED);
    h2o_socket_read_stop(sock);
    h2o_socket_write(sock, &c->refusal, 1, on_refusal_written);
}

/* ------------------------------------------------------------------ the hooks */

static void on_read(h2o_socket_t *sock, const char *err)
{
    sc_conn_t *c = sock->on_close.data;
    if (err == NULL) {
        inspect(c, sock);
        if (c->state == CONN_BODY && c->has_body && over_cap(c->guard)) {
            refuse(c, sock);
            return; /* h2o is called once the answer is written */
        }
    }
    c->h2o_read(sock, err);
}

/*
 * The interposed symbol: libh2o's calls land here. For a guarded socket, our callback goes in
 * front of h2o's. Nothing is written here: h2o may go on to process what is already buffered.
 */
void h2o_socket_read_start(h2o_socket_t *sock, h2o_socket_cb cb)
{
    if (sock->on_close.cb == on_conn_close && cb != on_read) {
        sc_conn_t *c = sock->on_close.data;
        c->h2o_read = cb;
        if (c->state == CONN_PROCESSING)
            c->state = CONN_HEAD; /* h2o has consumed the previous request */
        inspect(c, sock);         /* a pipelined head is parsed by h2o right after this call */
        cb = on_read;
    }
    if (real_read_start == NULL) /* a program that never called sc_conn_guard_setup (the unit tests) */
        real_read_start = (void (*)(h2o_socket_t *, h2o_socket_cb))dlsym(RTLD_NEXT, "h2o_socket_read_start");
    real_read_start(sock, cb);
}

static void on_conn_close(void *data)
{
    sc_conn_t *c = data;
    account(c, 0);
    __atomic_sub_fetch(&c->guard->connections, 1, __ATOMIC_RELAXED);
    free(c);
}

/* ------------------------------------------------------------------ the API */

int sc_conn_guard_setup(char *err, size_t errsize)
{
    void *ours = dlsym(RTLD_DEFAULT, "h2o_socket_read_start");
    real_read_start = (void (*)(h2o_socket_t *, h2o_socket_cb))dlsym(RTLD_NEXT, "h2o_socket_read_start");
    if (ours != (void *)h2o_socket_read_start || real_read_start == NULL) {
        snprintf(err, errsize, "cannot guard HTTP/1 connections: h2o_socket_read_start is not interposable in this build");
        return -1;
    }
    return 0;
}

sc_conn_guard_t *sc_conn_guard_create(uint64_t max_connections, uint64_t max_buffered_bytes)
{
    sc_conn_guard_t *g = calloc(1, sizeof(*g));
    if (g != NULL) {
        g->max_connections = max_connections;
        g->max_buffered = max_buffered_bytes;
    }
    return g;
}

void sc_conn_guard_free(sc_conn_guard_t *guard)
{
    free(guard);
}

int sc_conn_guard_admit(sc_conn_guard_t *g)
{
    return __atomic_load_n(&g->connections, __ATOMIC_RELAXED) < g->max_connections;
}

int sc_conn_guard_attach(sc_conn_guard_t *g, h2o_socket_t *sock, sc_conn_early_answer_cb early, void *ctx)
{
    sc_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -1;
    c->guard = g;
    c->early = early;
    c->early_ctx = ctx;
    c->state = CONN_HEAD;
    __atomic_add_fetch(&g->connections, 1, __ATOMIC_RELAXED);
    sock->on_close.cb = on_conn_close;
    sock->on_close.data = c;
    return 0;
}

sc_conn_t *sc_conn_guard_of_req(h2o_req_t *req)
{
    if (req->conn->callbacks->get_socket == NULL)
        return NULL;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    return sock != NULL && sock->on_close.cb == on_conn_close ? sock->on_close.data : NULL;
}

void sc_conn_guard_set_client_cert_required(h2o_socket_t *sock)
{
    if (sock->on_close.cb == on_conn_close)
        ((sc_conn_t *)sock->on_close.data)->client_cert = 1;
}

int sc_conn_guard_client_cert_verified(const sc_conn_t *c)
{
    return c != NULL && c->client_cert;
}

int sc_conn_guard_request_started(sc_conn_t *c)
{
    c->state = CONN_PROCESSING;
    return c->withheld;
}

void sc_conn_guard_stats(sc_conn_guard_t *g, sc_conn_guard_stats_t *out)
{
    out->connections = __atomic_load_n(&g->connections, __ATOMIC_RELAXED);
    out->buffered_bytes = __atomic_load_n(&g->buffered, __ATOMIC_RELAXED);
    out->uploads_refused = __atomic_load_n(&g->uploads_refused, __ATOMIC_RELAXED);
    out->bodies_withheld = __atomic_load_n(&g->bodies_withheld, __ATOMIC_RELAXED);
}
