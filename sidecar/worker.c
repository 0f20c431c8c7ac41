#include "worker.h"

#include <stdlib.h>
#include <unistd.h>

#include "admin.h"
#include "jwt_cache.h"
#include "log.h"
#include "pipeline.h"
#include "request_log.h"
#include "server.h"

/* Connections accepted per readiness event before yielding to the rest of the loop. */
#define ACCEPT_BATCH 16
/* While draining, how often the loop wakes up to check the in-flight count and the deadline. */
#define DRAIN_POLL_MS 50

/* What the main thread asks of a worker. */
typedef struct control_message {
    h2o_multithread_message_t super;
    sc_config_t *config; /* NULL: drain; else switch to this configuration (a reference is held) */
} control_message_t;

static void on_accept(h2o_socket_t *listener, const char *err)
{
    h2o_accept_ctx_t *accept_ctx = listener->data;
    if (err != NULL)
        return;
    for (int i = 0; i != ACCEPT_BATCH; ++i) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            return;
        h2o_accept(accept_ctx, sock);
    }
}

/* Each worker watches its own duplicate of the listening descriptor, so each can close its own. */
static h2o_socket_t *open_listener(sc_worker_t *w, int fd, h2o_accept_ctx_t *accept_ctx)
{
    int dupfd = dup(fd);
    if (dupfd == -1)
        return NULL;
    h2o_socket_t *sock = h2o_evloop_socket_create(w->loop, dupfd, H2O_SOCKET_FLAG_DONT_READ);
    sock->data = accept_ctx;
    h2o_socket_read_start(sock, on_accept);
    return sock;
}

static void close_service_listeners(sc_worker_t *w)
{
    for (size_t i = 0; i != w->server->config->num_services; ++i) {
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
}

static void start_draining(sc_worker_t *w)
{
    if (w->draining)
        return;
    w->draining = 1;
    close_service_listeners(w);
    /* responses from now on carry "Connection: close" */
    for (size_t i = 0; i != w->server->config->num_services; ++i)
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

int sc_worker_init(sc_worker_t *w, sc_server_t *server, unsigned index)
{
    size_t n = server->config->num_services;
    w->server = server;
    w->index = index;
    w->config = server->config;
    sc_config_retain(w->config);
    w->loop = h2o_evloop_create();
    w->service_ctx = calloc(n, sizeof(*w->service_ctx));
    w->service_accept = calloc(n, sizeof(*w->service_accept));
    w->service_listeners = calloc(n, sizeof(*w->service_listeners));
    if (w->service_ctx == NULL || w->service_accept == NULL || w->service_listeners == NULL ||
        sc_metrics_init(&w->metrics, n, server->config->metrics_max_tenants) != 0)
        return -1;

    for (size_t i = 0; i != n; ++i) {
        sc_server_service_t *svc = &server->services[i];
        h2o_context_init(&w->service_ctx[i], w->loop, &svc->globalconf);
        sc_pipeline_bind_worker(svc->pipeline, &w->service_ctx[i], w);
        sc_request_log_bind_worker(svc->logger, &w->service_ctx[i], w);
        sc_request_log_bind_worker(svc->fallback_logger, &w->service_ctx[i], w);
        w->service_accept[i].ctx = &w->service_ctx[i];
        w->service_accept[i].hosts = svc->globalconf.hosts;
        if ((w->service_listeners[i] = open_listener(w, svc->listen_fd, &w->service_accept[i])) == NULL)
            return -1;
    }
    use_tls_contexts(w, w->config);

    const sc_config_t *config = server->config;
    if (config->redis != NULL && (w->store = sc_store_create(w->loop, config->redis, &config->store)) == NULL)
        return -1;
    if (config->jwt_cache_entries != 0 && (w->jwt_cache = sc_jwt_cache_create(config->jwt_cache_entries)) == NULL)
        return -1;

    h2o_context_init(&w->admin_ctx, w->loop, &server->admin_conf);
    w->admin_accept.ctx = &w->admin_ctx;
    w->admin_accept.hosts = server->admin_conf.hosts;
    if ((w->admin_listener = open_listener(w, server->admin_fd, &w->admin_accept)) == NULL)
        return -1;
    h2o_multithread_register_receiver(w->admin_ctx.queue, &w->control, on_control);
    sc_jwt_keys_worker_init(w);
    return 0;
}

void *sc_worker_run(void *arg)
{
    sc_worker_t *w = arg;
    uint64_t deadline = 0;

    for (;;) {
        h2o_evloop_run(w->loop, w->draining ? DRAIN_POLL_MS : INT32_MAX);
        if (!w->draining)
            continue;
        uint64_t now = h2o_now(w->loop);
        if (deadline == 0)
            deadline = now + w->server->config->shutdown_grace_ms;
        if (w->inflight == 0)
            break;
        if (now >= deadline) {
            sc_log_warn("worker %u: shutdown grace period over with %zu request(s) still in flight", w->index, w->inflight);
            break;
        }
    }
    return NULL;
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

/* inflight is written by this worker only, and read by the /metrics scrape on any thread */
void sc_worker_request_started(sc_worker_t *w)
{
    __atomic_store_n(&w->inflight, w->inflight + 1, __ATOMIC_RELAXED);
}

void sc_worker_request_finished(sc_worker_t *w)
{
    __atomic_store_n(&w->inflight, w->inflight - 1, __ATOMIC_RELAXED);
}
