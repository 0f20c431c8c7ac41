#include "worker.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "auth_failures.h"
#include "conn_guard.h"
#include "http1_server.h"
#include "jwt_cache.h"
#include "log.h"
#include "pipeline.h"
#include "request_log.h"
#include "tls.h"
#include "upstream_pool.h"

/* Connections accepted per readiness event before yielding to the rest of the loop. */
#define ACCEPT_BATCH 16
/* While draining, how often the loop wakes up to check the in-flight count and the deadline. */
#define DRAIN_POLL_MS 50
/* Once drained, how long idle connections get to close before the worker gives up freeing. */
#define CLOSE_CEILING_MS 2000

/* How long accepting stays paused at max_connections or out of descriptors before trying again:
 * the pending connections wait in the kernel's backlog meanwhile. */
#define ACCEPT_PAUSE_MS 50
/* Per worker: client addresses with a failure budget, tokens remembered as failing their
 * signature check, and for how long (long enough to make a replay cheap, short enough that a
 * key added by a reload is not missed for long). */
#define AUTH_FAILURE_CLIENTS 4096
#define FAILED_TOKENS 4096
#define FAILED_TOKEN_TTL_NS (60 * (uint64_t)1000000000)

/* What the main thread asks of a worker. */
typedef struct control_message {
    h2o_multithread_message_t super;
    sc_config_t *config; /* NULL: drain; else switch to this configuration (a reference is held) */
} control_message_t;

static void set_service_listeners_reading(sc_worker_t *w, int on);

/* Stops accepting for ACCEPT_PAUSE_MS: a listener that stays readable would otherwise wake the
 * loop at once, forever (100 % CPU at EMFILE). One log line per episode. */
static void pause_accepting(sc_worker_t *w, const char *why)
{
    if (w->accept_pause_logged != why) {
        sc_log_warn("worker %u: %s: accepting paused (retrying every %d ms)", w->index, why, ACCEPT_PAUSE_MS);
        w->accept_pause_logged = why;
    }
    if (w->accept_paused)
        return;
    w->accept_paused = 1;
    set_service_listeners_reading(w, 0);
    h2o_timeout_link(w->loop, &w->accept_pause, &w->accept_resume);
}

static void on_accept_resume(h2o_timeout_entry_t *entry)
{
    sc_worker_t *w = H2O_STRUCT_FROM_MEMBER(sc_worker_t, accept_resume, entry);
    w->accept_paused = 0;
    if (!w->draining)
        set_service_listeners_reading(w, 1);
}

static void accepted(sc_worker_t *w)
{
    if (w->accept_pause_logged != NULL) {
        sc_log_info("worker %u: accepting connections again", w->index);
        w->accept_pause_logged = NULL;
    }
}

/* The admin listener: never paused, never counted (health checks must answer at the cap). */
static void on_admin_accept(h2o_socket_t *listener, const char *err)
{
    h2o_accept_ctx_t *accept_ctx = listener->data;
    sc_worker_t *w = H2O_STRUCT_FROM_MEMBER(sc_worker_t, admin_accept, accept_ctx);
    if (err != NULL)
        return;
    for (int i = 0; i != ACCEPT_BATCH; ++i) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            return;
        sc_http1_server_accept(accept_ctx, &w->client_send, sock);
    }
}

static void on_service_accept(h2o_socket_t *listener, const char *err)
{
    sc_worker_service_t *ws = listener->data;
    sc_worker_t *w = ws->worker;
    sc_conn_guard_t *guard = w->shared->conn_guard;
    if (err != NULL)
        return;
    for (int i = 0; i != ACCEPT_BATCH; ++i) {
        if (!sc_conn_guard_admit(guard)) {
            pause_accepting(w, "max_connections reached");
            return;
        }
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL) {
            if (errno == EMFILE || errno == ENFILE)
                pause_accepting(w, "out of file descriptors");
            return;
        }
        if (sc_conn_guard_attach(guard, sock) != 0) {
            h2o_socket_close(sock);
            return;
        }
        accepted(w);
        if (sc_tls_ctx_requires_client_cert(w->service_accept[ws->index].ssl_ctx))
            sc_conn_guard_set_client_cert_required(sock); /* the context this socket's handshake uses */
        sc_http1_server_accept(&w->service_accept[ws->index], &w->client_send, sock);
    }
}

/* Each worker watches its own duplicate of the listening descriptor, so each can close its own. */
static h2o_socket_t *open_listener(sc_worker_t *w, int fd, h2o_socket_cb on_ready, void *data)
{
    int dupfd = dup(fd);
    if (dupfd == -1)
        return NULL;
    h2o_socket_t *sock = h2o_evloop_socket_create(w->loop, dupfd, H2O_SOCKET_FLAG_DONT_READ);
    sock->data = data;
    h2o_socket_read_start(sock, on_ready);
    return sock;
}

static void set_service_listeners_reading(sc_worker_t *w, int on)
{
    for (size_t i = 0; i != w->shared->config->num_services; ++i) {
        if (w->service_listeners[i] == NULL)
            continue;
        if (on)
            h2o_socket_read_start(w->service_listeners[i], on_service_accept);
        else
            h2o_socket_read_stop(w->service_listeners[i]);
    }
}

static void close_service_listeners(sc_worker_t *w)
{
    if (w->accept_paused) {
        h2o_timeout_unlink(&w->accept_resume);
        w->accept_paused = 0;
    }
    for (size_t i = 0; i != w->shared->config->num_services; ++i) {
        if (w->service_listeners[i] == NULL)
            continue;
        h2o_socket_read_stop(w->service_listeners[i]);
        h2o_socket_close(w->service_listeners[i]);
        w->service_listeners[i] = NULL;
    }
}

/* New connections get the configuration's TLS context; open ones keep theirs (see tls.h). */
static void use_tls_contexts(sc_worker_t *w, const sc_config_t *config)
{
    for (size_t i = 0; i != config->num_services; ++i)
        if (config->services[i].tls != NULL)
            w->service_accept[i].ssl_ctx = config->services[i].tls->ctx;
}

static void switch_config(sc_worker_t *w, sc_config_t *config)
{
    sc_config_t *old = w->config;
    w->config = config; /* the message's reference becomes the worker's */
    use_tls_contexts(w, config);
    /* cached claims point into the old issuers, and a key may have been withdrawn: verify again */
    if (w->jwt_cache != NULL)
        sc_jwt_cache_clear(w->jwt_cache);
    sc_config_release(old);
    /* last: a reload counts as done once every worker has got this far (metrics_text.c) */
    __atomic_add_fetch(&w->stats.configs_switched, 1, __ATOMIC_RELEASE);
}

static void start_draining(sc_worker_t *w)
{
    if (w->draining)
        return;
    w->draining = 1;
    close_service_listeners(w);
    if (w->leases != NULL)
        sc_ratelimit_lease_give_back_all(w->leases); /* rate-limit tokens this worker will not spend */
    /* responses from now on carry "Connection: close" */
    for (size_t i = 0; i != w->shared->config->num_services; ++i)
        h2o_context_request_shutdown(&w->service_ctx[i]);
}

static void on_control(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    sc_worker_t *w = H2O_STRUCT_FROM_MEMBER(sc_worker_t, control, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        control_message_t *m = H2O_STRUCT_FROM_MEMBER(control_message_t, super.link, messages->next);
        h2o_linklist_unlink(&m->super.link);
        if (m->config != NULL)
            switch_config(w, m->config);
        else
            start_draining(w);
        free(m);
    }
}

/* The process-wide failure budget, shared out evenly between the workers (each keeps its own:
 * no lock on the request path). */
static sc_auth_failures_t *create_auth_failures(const sc_config_t *c)
{
    const sc_auth_failure_limit_t *l = &c->auth_failures;
    uint64_t n = c->threads;
#define SHARE(v) ((v) / n != 0 ? (v) / n : 1)
    sc_gcra_limit_t per_client = {SHARE(l->per_client_rate), SHARE(l->per_client_burst)};
    sc_gcra_limit_t total = {SHARE(l->total_rate), SHARE(l->total_burst)};
#undef SHARE
    return sc_auth_failures_create(per_client, total, AUTH_FAILURE_CLIENTS, FAILED_TOKENS, FAILED_TOKEN_TTL_NS);
}

/* What the worker's requests are given (request_env.h): its own state and the process's shared objects. */
static void fill_request_env(sc_worker_t *w)
{
    const sc_worker_shared_t *shared = w->shared;
    w->env = (sc_request_env_t){
        .config = &w->config,
        .start_config = shared->config,
        .store = w->store,
        .redis = w->store != NULL ? sc_tenant_store_redis(w->store) : NULL,
        .jwt_cache = w->jwt_cache,
        .jwt_keys = w->jwt_keys,
        .auth_failures = w->auth_failures,
        .local_limits = shared->local_limits,
        .leases = w->leases,
        .ratelimit_degraded = &w->ratelimit_degraded,
        .ratelimit_fallbacks = &w->stats.ratelimit_fallbacks,
        .upstream_log = &w->upstream_log,
        .report_only_log = &w->report_only_log,
        .metrics = &w->metrics,
        .inflight = &w->inflight,
        .draining = &w->draining,
        .access_log = shared->access_log,
        .tenant_labels = shared->tenant_labels,
        .upstream_pools = w->upstream_pools,
    };
}

static int worker_init(sc_worker_t *w, const sc_worker_shared_t *shared, unsigned index)
{
    size_t n = shared->config->num_services;
    w->shared = shared;
    w->index = index;
    w->config = shared->config;
    sc_config_retain(w->config);
    w->loop = h2o_evloop_create();
    h2o_timeout_init(w->loop, &w->accept_pause, ACCEPT_PAUSE_MS);
    w->accept_resume.cb = on_accept_resume;
    /* the configuration at start: a reload cannot change it (config.c) */
    h2o_timeout_init(w->loop, &w->client_send, shared->config->client_send_timeout_ms);
    w->report_only_log.per_second = SC_WORKER_REPORT_ONLY_LINES_PER_S;
    w->service_ctx = calloc(n, sizeof(*w->service_ctx));
    w->service_accept = calloc(n, sizeof(*w->service_accept));
    w->service_listeners = calloc(n, sizeof(*w->service_listeners));
    w->services = calloc(n, sizeof(*w->services));
    w->upstream_pools = calloc(n, sizeof(*w->upstream_pools));
    if (w->service_ctx == NULL || w->service_accept == NULL || w->service_listeners == NULL || w->services == NULL ||
        w->upstream_pools == NULL || sc_metrics_init(&w->metrics, n, shared->config->metrics_max_tenants) != 0)
        return -1;

    for (size_t i = 0; i != n; ++i) {
        sc_worker_service_conf_t *svc = &shared->services[i];
        h2o_context_init(&w->service_ctx[i], w->loop, &svc->globalconf);
        sc_request_env_bind(&w->service_ctx[i], &w->env);
        w->service_accept[i].ctx = &w->service_ctx[i];
        w->service_accept[i].hosts = svc->globalconf.hosts;
        w->services[i] = (sc_worker_service_t){w, i};
        if ((w->service_listeners[i] = open_listener(w, svc->listen_fd, on_service_accept, &w->services[i])) == NULL)
            return -1;
        if ((w->upstream_pools[i] = sc_upstream_pool_create(w->loop, &shared->config->services[i])) == NULL)
            return -1;
    }
    use_tls_contexts(w, w->config);

    const sc_config_t *config = shared->config;
    if (config->redis != NULL && (w->store = sc_tenant_store_create(w->loop, config->redis, &config->store)) == NULL)
        return -1;
    if (config->redis != NULL && (w->leases = sc_ratelimit_lease_create(w->loop)) == NULL)
        return -1;
    if (config->jwt_cache_entries != 0 && (w->jwt_cache = sc_jwt_cache_create(config->jwt_cache_entries)) == NULL)
        return -1;
    if ((w->auth_failures = create_auth_failures(config)) == NULL)
        return -1;

    h2o_context_init(&w->admin_ctx, w->loop, shared->admin_conf);
    w->admin_accept.ctx = &w->admin_ctx;
    w->admin_accept.hosts = shared->admin_conf->hosts;
    if ((w->admin_listener = open_listener(w, shared->admin_fd, on_admin_accept, &w->admin_accept)) == NULL)
        return -1;
    h2o_multithread_register_receiver(w->admin_ctx.queue, &w->control, on_control);
    w->jwt_keys = sc_jwt_keys_worker_init(shared->jwt_keys, index, w->loop, w->admin_ctx.queue, w->jwt_cache);
    fill_request_env(w);
    return 0;
}

/* Serves until drained: returns 0 once no request is in flight, -1 when the grace period ended
 * first. */
static int serve_until_drained(sc_worker_t *w)
{
    uint64_t deadline = 0;
    for (;;) {
        h2o_evloop_run(w->loop, w->draining ? DRAIN_POLL_MS : INT32_MAX);
        if (!w->draining)
            continue;
        uint64_t now = h2o_now(w->loop);
        if (deadline == 0)
            deadline = now + w->shared->config->shutdown_grace_ms;
        if (w->inflight == 0)
            return 0;
        if (now >= deadline) {
            sc_log_warn("worker %u: shutdown grace period over with %zu request(s) still in flight", w->index, w->inflight);
            return -1;
        }
    }
}

static void close_admin_listener(sc_worker_t *w)
{
    if (w->admin_listener == NULL)
        return;
    h2o_socket_read_stop(w->admin_listener);
    h2o_socket_close(w->admin_listener);
    w->admin_listener = NULL;
}

/* Nothing runs any more: the connections left are idle (keep-alive, or a request head never
 * completed) or writing the end of a last response; the idle ones close now, the others once
 * their response is written. Returns 0 once every connection is closed. */
static int close_idle_connections(sc_worker_t *w)
{
    close_admin_listener(w);
    uint64_t deadline = h2o_now(w->loop) + CLOSE_CEILING_MS;
    while (sc_http1_server_close_idle() != 0 && h2o_now(w->loop) < deadline)
        h2o_evloop_run(w->loop, DRAIN_POLL_MS);
    return sc_http1_server_close_idle() == 0 ? 0 : -1;
}

/* libh2o 2.2.5 has no call that empties a recycler: taking each cached buffer out (an allocation
 * served from the cache while it holds any) and freeing it does. The cache is this thread's. */
static void release_thread_buffers(void)
{
    h2o_mem_recycle_t *cache = &h2o_socket_buffer_prototype.allocator;
    while (cache->cnt != 0)
        free(h2o_mem_alloc_recycle(cache, 1));
}

/* Control messages that arrived after the drain request (a reload racing the shutdown). */
static void drop_control_messages(sc_worker_t *w)
{
    h2o_linklist_t *queued = &w->control._messages;
    while (!h2o_linklist_is_empty(queued)) {
        control_message_t *m = H2O_STRUCT_FROM_MEMBER(control_message_t, super.link, queued->next);
        h2o_linklist_unlink(&m->super.link);
        sc_config_release(m->config);
        free(m);
    }
}

/* h2o_context_request_shutdown arms libh2o's HTTP/2 graceful-shutdown timer even with no HTTP/2
 * connection (its second GOAWAY, a second later); with nothing to send it only has to go before
 * the context's timeouts are disposed. */
static void dispose_context(h2o_context_t *ctx)
{
    if (h2o_timeout_is_linked(&ctx->http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&ctx->http2._graceful_shutdown_timeout);
    h2o_context_dispose(ctx);
}

static void worker_dispose(sc_worker_t *w)
{
    size_t n = w->shared->config->num_services;
    close_service_listeners(w); /* already closed, unless the worker never ran (a refused start) */
    close_admin_listener(w);
    if (w->store != NULL)
        sc_tenant_store_destroy(w->store); /* closes its Redis connections on the loop */
    sc_ratelimit_lease_destroy(w->leases); /* after the store: its pending calls complete into the table */
    sc_jwt_keys_worker_dispose(w->jwt_keys);
    drop_control_messages(w);
    h2o_multithread_unregister_receiver(w->admin_ctx.queue, &w->control);
    for (size_t i = 0; i != n; ++i) {
        if (w->upstream_pools != NULL)
            sc_upstream_pool_destroy(w->upstream_pools[i]); /* closes its idle connections */
        dispose_context(&w->service_ctx[i]);
    }
    dispose_context(&w->admin_ctx);
    h2o_timeout_dispose(w->loop, &w->accept_pause);
    h2o_timeout_dispose(w->loop, &w->client_send); /* every connection is closed */
    if (w->jwt_cache != NULL)
        sc_jwt_cache_free(w->jwt_cache);
    sc_auth_failures_free(w->auth_failures);
    sc_metrics_dispose(&w->metrics);
    free(w->service_ctx);
    free(w->service_accept);
    free(w->service_listeners);
    free(w->services);
    free(w->upstream_pools);
    sc_config_release(w->config);
}

/* Everything the worker made, on its thread: then its loop (closed sockets are freed by one more
 * turn of it), then what its thread's caches hold. */
static void worker_free(sc_worker_t *w)
{
    worker_dispose(w);
    h2o_evloop_run(w->loop, 0);
    h2o_evloop_destroy(w->loop);
    w->loop = NULL;
    release_thread_buffers();
}

/* Reports the initialisation and waits for the server's decision. */
static int report_started(sc_worker_sync_t *s, int ok)
{
    pthread_mutex_lock(&s->lock);
    ++s->reported;
    if (!ok)
        ++s->failed;
    pthread_cond_broadcast(&s->cond);
    while (s->decision == 0)
        pthread_cond_wait(&s->cond, &s->lock);
    int decision = s->decision;
    pthread_mutex_unlock(&s->lock);
    return decision;
}

void *sc_worker_run(void *arg)
{
    sc_worker_t *w = arg;
    int ok = worker_init(w, w->shared, w->index) == 0;
    if (!ok) /* out of memory or descriptors: what this worker made so far is left to the exit */
        sc_log_error("worker %u: initialisation failed", w->index);
    if (report_started(w->shared->sync, ok) < 0 || !ok) {
        if (ok)
            worker_free(w);
        return NULL;
    }
    int cleanly = serve_until_drained(w) == 0 && close_idle_connections(w) == 0;
    /* the admin endpoints read every worker's counters and store: nothing is freed before every
     * worker has stopped serving */
    pthread_barrier_wait(&w->shared->sync->stopped);
    if (cleanly)
        worker_free(w);
    w->stopped_cleanly = cleanly;
    return NULL;
}

int sc_worker_sync_init(sc_worker_sync_t *s, unsigned workers)
{
    *s = (sc_worker_sync_t){.reported = 0};
    if (pthread_barrier_init(&s->stopped, NULL, workers) != 0)
        return -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    return 0;
}

void sc_worker_sync_dispose(sc_worker_sync_t *s)
{
    pthread_barrier_destroy(&s->stopped);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
}

unsigned sc_worker_sync_wait_started(sc_worker_sync_t *s, unsigned workers)
{
    pthread_mutex_lock(&s->lock);
    while (s->reported != workers)
        pthread_cond_wait(&s->cond, &s->lock);
    unsigned failed = s->failed;
    pthread_mutex_unlock(&s->lock);
    return failed;
}

void sc_worker_sync_decide(sc_worker_sync_t *s, int decision)
{
    pthread_mutex_lock(&s->lock);
    s->decision = decision;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static void send_control(sc_worker_t *w, sc_config_t *config)
{
    control_message_t *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        sc_log_error("worker %u: out of memory while sending a control message", w->index);
        abort();
    }
    m->config = config;
    h2o_multithread_send_message(&w->control, &m->super);
}

void sc_worker_request_drain(sc_worker_t *w)
{
    send_control(w, NULL);
}

void sc_worker_use_config(sc_worker_t *w, sc_config_t *config)
{
    sc_config_retain(config);
    send_control(w, config);
}
