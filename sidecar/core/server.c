#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "denials.h"
#include "fd_budget.h"
#include "http1_server.h"
#include "jwks_fetch.h"
#include "jwks_refresher.h"
#include "jwt_keys.h"
#include "log.h"
#include "metrics_text.h"
#include "pipeline.h"
#include "request_log.h"
#include "response_filter.h"
#include "worker.h"

#define LISTEN_BACKLOG 1024
/* tenants (x services) with a limit in force; idle ones are dropped when this fills */
#define LOCAL_LIMIT_ENTRIES 100000

/* Binds a listening socket; the error names the address, so the operator knows which one. */
static int bind_listener(const sc_addr_t *addr, const char *what)
{
    int fd, on = 1;
    if ((fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
        sc_log_error("%s %s: socket: %s", what, addr->text, strerror(errno));
        return -1;
    }
    /* TCP_NODELAY set on the listener is inherited by accepted sockets on Linux */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0 ||
        bind(fd, (const struct sockaddr *)&addr->ss, addr->len) != 0 || listen(fd, LISTEN_BACKLOG) != 0 ||
        fcntl(fd, F_SETFL, O_NONBLOCK) != 0) {
        sc_log_error("%s %s: cannot listen: %s", what, addr->text, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* The h2o configuration of one service: our pipeline, which forwards by itself (upstream.h). */
static int setup_service(sc_server_t *server, size_t index)
{
    sc_worker_service_conf_t *svc = &server->services[index];
    const sc_service_t *service = &server->config->services[index];
    h2o_globalconf_t *gc = &svc->globalconf;

    h2o_config_init(gc);
    gc->server_name = h2o_iovec_init(H2O_STRLIT("")); /* no "Server: h2o": the backend's own passes through */
    gc->max_request_entity_size = service->max_body_bytes;
    gc->http1.upgrade_to_http2 = 0; /* HTTP/1.1 only towards the gateway */

    h2o_hostconf_t *host = h2o_config_register_host(gc, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    path->error_log.emit_request_errors = 0; /* backend failures are logged by upstream.c */
    sc_pipeline_register(path, index);
    sc_request_log_register(path, index); /* requests that reached the pipeline */
    sc_response_filter_register_fallback(&host->fallback_path);
    sc_request_log_register(&host->fallback_path, index); /* requests refused before routing (400, 413, 417) */
    return 0;
}

static void setup_admin(sc_server_t *server, sc_server_admin_register_cb register_admin)
{
    h2o_globalconf_t *gc = &server->admin_conf;
    h2o_config_init(gc);
    gc->server_name = h2o_iovec_init(H2O_STRLIT(""));
    gc->http1.upgrade_to_http2 = 0;
    h2o_hostconf_t *host = h2o_config_register_host(gc, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    register_admin(h2o_config_register_path(host, "/", 0), server);
}

/*
 * Keys of issuers with jwks_uri or discovery: fetched now, before any worker serves (or read from
 * their cache files); without them the sidecar does not start.
 */
static int setup_jwks(sc_server_t *server)
{
    char err[1024];
    if (sc_jwks_fetch_global_init() != 0 || (server->jwt_keys = sc_jwt_keys_create(server->config->threads)) == NULL ||
        (server->jwks = sc_jwks_refresher_create(server->config->threads, sc_jwt_keys_notify, server->jwt_keys)) == NULL) {
        sc_log_error("jwt_issuers: cannot initialise the key fetcher");
        return -1;
    }
    if (sc_jwks_refresher_attach(server->jwks, &server->config->jwt_issuers, err, sizeof(err)) != 0) {
        sc_log_error("%s", err);
        return -1;
    }
    return 0;
}

static void register_denial_reason(const char *reason)
{
    sc_metrics_reason_index(reason);
}

static int setup(sc_server_t *server, sc_server_admin_register_cb register_admin)
{
    const sc_config_t *config = server->config;
    if (sc_fd_budget_check(config) != 0)
        return -1;
    if ((server->services = calloc(config->num_services, sizeof(*server->services))) == NULL ||
        (server->workers = calloc(config->threads, sizeof(*server->workers))) == NULL)
        return -1;
    for (size_t i = 0; i != config->num_services; ++i) {
        const sc_service_t *service = &config->services[i];
        if ((server->services[i].listen_fd = bind_listener(&service->listen, service->name)) == -1)
            return -1;
        server->services_ready = i + 1; /* its listener and h2o configuration are the teardown's to undo */
        if (setup_service(server, i) != 0)
            return -1;
    }
    if ((server->admin_fd = bind_listener(&config->admin_listen, "admin_listen")) == -1)
        return -1;
    sc_denials_each_reason(register_denial_reason);
    char err[256];
    if ((server->conn_guard = sc_conn_guard_create(config->max_connections)) == NULL)
        return -1;
    if ((server->local_limits = sc_ratelimit_local_create(LOCAL_LIMIT_ENTRIES)) == NULL)
        return -1;
    if (config->metrics_per_tenant && (server->tenant_labels = sc_tenant_labels_create(config->metrics_max_tenants)) == NULL)
        return -1;
    if (config->access_log != NULL) {
        if ((server->access_log = sc_access_log_open(config->access_log, err, sizeof(err))) == NULL) {
            sc_log_error("access_log: %s", err);
            return -1;
        }
    }
    setup_admin(server, register_admin);
    server->admin_ready = 1;
    if (setup_jwks(server) != 0)
        return -1;
    server->shared = (sc_worker_shared_t){
        .config = server->config,
        .services = server->services,
        .admin_conf = &server->admin_conf,
        .admin_fd = server->admin_fd,
        .conn_guard = server->conn_guard,
        .local_limits = server->local_limits,
        .access_log = server->access_log,
        .tenant_labels = server->tenant_labels,
        .jwt_keys = server->jwt_keys,
        .sync = &server->sync,
    };
    if (sc_worker_sync_init(&server->sync, config->threads) != 0)
        return -1;
    server->sync_ready = 1;
    for (unsigned i = 0; i != config->threads; ++i)
        server->workers[i] = (sc_worker_t){.shared = &server->shared, .index = i};
    return 0;
}

/* Each worker initialises on its own thread (worker.h); the server waits for all of them and
 * lets them serve only if every one succeeded. Returns 0, or -1 once the threads it started have
 * freed what they made and returned. */
static int start_workers(sc_server_t *server)
{
    unsigned n = server->config->threads;
    for (; server->threads_started != n; ++server->threads_started) {
        sc_worker_t *w = &server->workers[server->threads_started];
        if (pthread_create(&w->thread, NULL, sc_worker_run, w) != 0) {
            sc_log_error("cannot start worker thread %u", server->threads_started);
            break;
        }
    }
    unsigned failed = sc_worker_sync_wait_started(&server->sync, server->threads_started);
    int ok = failed == 0 && server->threads_started == n;
    sc_worker_sync_decide(&server->sync, ok ? 1 : -1);
    if (ok)
        return 0;
    for (unsigned i = 0; i != server->threads_started; ++i)
        pthread_join(server->workers[i].thread, NULL);
    return -1;
}

/* The service listeners: the workers watch duplicates, so a socket stops listening once every
 * worker has closed its own too. */
static void close_service_listeners(sc_server_t *server)
{
    for (size_t i = 0; i != server->services_ready; ++i) {
        if (server->services[i].listen_fd != -1)
            close(server->services[i].listen_fd);
        server->services[i].listen_fd = -1;
    }
}

/* Threads that may still use what the teardown frees: the key refresher and the access log's
 * writer (what is queued is written). */
static void stop_helper_threads(sc_server_t *server)
{
    sc_jwks_refresher_free(server->jwks); /* aborts a fetch under way */
    server->jwks = NULL;
    sc_access_log_close(server->access_log);
    server->access_log = NULL;
}

/* Frees whatever setup made, in the reverse order: after a refused start, or once every worker
 * has stopped cleanly (each freed its own part on its thread). A clean exit is one a leak
 * checker finds nothing wrong with. */
static void teardown(sc_server_t *server)
{
    stop_helper_threads(server);
    if (server->jwt_keys != NULL)
        sc_jwt_keys_free(server->jwt_keys); /* after the workers' parts and the refresher */
    close_service_listeners(server);
    for (size_t i = 0; i != server->services_ready; ++i)
        h2o_config_dispose(&server->services[i].globalconf);
    if (server->admin_ready)
        h2o_config_dispose(&server->admin_conf);
    if (server->admin_fd != -1)
        close(server->admin_fd);
    if (server->tenant_labels != NULL)
        sc_tenant_labels_destroy(server->tenant_labels);
    sc_ratelimit_local_destroy(server->local_limits);
    sc_conn_guard_free(server->conn_guard);
    if (server->sync_ready)
        sc_worker_sync_dispose(&server->sync);
    free(server->workers);
    free(server->services);
}

/* Requests cut by the grace period still hold memory that libh2o's connections own, with no
 * freeing it from outside: what must be written is, and the exit returns the rest. */
static void exit_without_freeing(sc_server_t *server)
{
    stop_helper_threads(server);
    sc_log_info("stopped (requests in flight were cut)");
    _exit(0);
}

static int all_stopped_cleanly(const sc_server_t *server)
{
    for (unsigned i = 0; i != server->config->threads; ++i)
        if (!server->workers[i].stopped_cleanly)
            return 0;
    return 1;
}

/* Signals are taken synchronously by the main thread (sigwait); workers never see them. */
static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGUSR1);
    sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void log_started(const sc_server_t *server)
{
    const sc_config_t *c = server->config;
    for (size_t i = 0; i != c->num_services; ++i)
        sc_log_info("service %s: listening on %s%s, forwarding to %s (policy %s, %s)", c->services[i].name,
                    c->services[i].listen.text,
                    c->services[i].tls == NULL                   ? ""
                    : c->services[i].tls->client_ca_file != NULL ? " (TLS, client certificates)"
                                                                 : " (TLS)",
                    c->services[i].upstream, c->services[i].policy_file,
                    c->services[i].policy->mode == SC_POLICY_ENFORCE ? "enforce" : "report_only");
    sc_log_info("admin endpoints on %s; %u worker thread(s)", c->admin_listen.text, c->threads);
}

/*
 * SIGHUP: load and validate everything again; workers switch to the new configuration for new
 * requests while running requests finish on theirs. Any error leaves the old one serving.
 */
static void reload(sc_server_t *server)
{
    char err[1024];
    sc_config_t *next = sc_config_load_file(server->config->file, err, sizeof(err));
    /* fetched keys carry over; an issuer whose key source changed is fetched before the swap */
    if (next == NULL || sc_config_check_reloadable(server->config, next, err, sizeof(err)) != 0 ||
        sc_jwks_refresher_attach(server->jwks, &next->jwt_issuers, err, sizeof(err)) != 0) {
        sc_log_error("reload refused, the running configuration keeps serving: %s", err);
        __atomic_add_fetch(&server->reloads_failed, 1, __ATOMIC_RELAXED);
        sc_config_release(next);
        return;
    }
    for (unsigned i = 0; i != server->config->threads; ++i)
        sc_worker_use_config(&server->workers[i], next);
    sc_config_release(next); /* the workers hold it now */
    __atomic_add_fetch(&server->reloads_ok, 1, __ATOMIC_RELAXED);
    sc_log_info("reloaded %s", server->config->file);
}

int sc_server_is_draining(const sc_server_t *server)
{
    return __atomic_load_n(&server->draining, __ATOMIC_ACQUIRE);
}

size_t sc_server_waiting_for(const sc_server_t *server, sc_server_wait_t *waits, size_t max)
{
    size_t n = 0;
    if (sc_server_is_draining(server) && n < max)
        waits[n++] = (sc_server_wait_t){"draining", -1};
    for (unsigned i = 0; i != server->config->threads; ++i) {
        const sc_tenant_store_t *store = server->workers[i].store;
        if (store == NULL)
            continue;
        if (!sc_tenant_store_commands_ready(store) && n < max)
            waits[n++] = (sc_server_wait_t){"redis: worker", (int)i};
        if (!sc_tenant_store_subscribed(store) && n < max)
            waits[n++] = (sc_server_wait_t){"redis: subscription, worker", (int)i};
    }
    return n;
}

/* Reloads every worker has switched to (each switches when its loop reads the message): until
 * then new connections may still meet the old configuration, so it is not yet a success. */
static uint64_t reloads_applied(const sc_server_t *s)
{
    uint64_t least = __atomic_load_n(&s->reloads_ok, __ATOMIC_RELAXED);
    for (unsigned i = 0; i != s->config->threads; ++i) {
        uint64_t n = __atomic_load_n(&s->workers[i].stats.configs_switched, __ATOMIC_ACQUIRE);
        if (n < least)
            least = n;
    }
    return least;
}

/* What each worker counts, summed into `in` (whose `requests` the caller made). */
static void sum_workers(const sc_server_t *s, sc_metrics_text_input_t *in, sc_metrics_t *requests)
{
    for (unsigned i = 0; i != s->config->threads; ++i) {
        const sc_worker_t *w = &s->workers[i];
        sc_metrics_add(requests, &w->metrics, s->config->metrics_max_tenants);
        if (w->store != NULL)
            sc_tenant_store_add_stats(w->store, &in->store, &in->redis);
        in->ratelimit_fallbacks += __atomic_load_n(&w->stats.ratelimit_fallbacks, __ATOMIC_RELAXED);
        if (w->leases != NULL)
            sc_ratelimit_lease_add_stats(w->leases, &in->leases);
        in->inflight += __atomic_load_n(&w->inflight, __ATOMIC_RELAXED);
    }
}

#define MAX_JWKS_SOURCES 64

h2o_iovec_t sc_server_render_metrics(sc_server_t *s, h2o_mem_pool_t *pool)
{
    sc_metrics_t requests;
    sc_jwks_source_stats_t jwks[MAX_JWKS_SOURCES];
    sc_server_wait_t wait;
    sc_metrics_text_input_t in = {
        .config = s->config,
        .requests = &requests,
        .tenant_labels = s->tenant_labels,
        .ready = sc_server_waiting_for(s, &wait, 1) == 0,
        .reloads_applied = reloads_applied(s),
        .reloads_failed = __atomic_load_n(&s->reloads_failed, __ATOMIC_RELAXED),
        .access_log_dropped = s->access_log != NULL ? sc_access_log_dropped(s->access_log) : 0,
        .jwks = jwks,
        .num_jwks = s->jwks != NULL ? sc_jwks_refresher_stats(s->jwks, jwks, MAX_JWKS_SOURCES) : 0,
    };
    if (sc_metrics_init(&requests, s->config->num_services, s->config->metrics_max_tenants) != 0) {
        sc_metrics_dispose(&requests);
        return h2o_iovec_init(NULL, 0);
    }
    sum_workers(s, &in, &requests);
    sc_http1_server_stats_t http1;
    sc_http1_server_stats(&http1);
    in.connections.open = sc_conn_guard_connections(s->conn_guard);
    in.connections.heads_refused = http1.heads_refused;
    in.connections.bodies_withheld = http1.bodies_withheld;
    in.connections.send_timeouts = http1.send_timeouts;
    h2o_iovec_t page = sc_metrics_text_render(&in, pool);
    sc_metrics_dispose(&requests);
    return page;
}

int sc_server_run(sc_config_t *config, sc_server_admin_register_cb register_admin)
{
    sc_server_t server = {.config = config, .admin_fd = -1};
    sigset_t signals;
    int sig;

    block_signals(&signals);
    if (setup(&server, register_admin) != 0) {
        teardown(&server);
        return 1;
    }
    if (start_workers(&server) != 0) {
        teardown(&server);
        return 1;
    }
    if (sc_jwks_refresher_start(server.jwks) != 0) {
        sc_log_error("cannot start the key refresher thread");
        return 1;
    }
    log_started(&server);

    for (;;) {
        if (sigwait(&signals, &sig) != 0)
            sig = SIGTERM;
        if (sig == SIGTERM || sig == SIGINT)
            break;
        if (sig == SIGHUP)
            reload(&server);
        else if (sig == SIGUSR1 && server.access_log != NULL)
            sc_access_log_reopen(server.access_log); /* logrotate moved the file */
    }

    sc_log_info("%s received: draining (at most %llu ms)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                (unsigned long long)config->shutdown_grace_ms);
    __atomic_store_n(&server.draining, 1, __ATOMIC_RELEASE);
    sc_jwks_refresher_stop(server.jwks); /* nothing is sent to the workers from now on; draining requests keep the keys they have */
    close_service_listeners(&server);
    for (unsigned i = 0; i != config->threads; ++i)
        sc_worker_request_drain(&server.workers[i]);
    for (unsigned i = 0; i != config->threads; ++i)
        pthread_join(server.workers[i].thread, NULL);
    if (!all_stopped_cleanly(&server))
        exit_without_freeing(&server);
    teardown(&server);
    sc_log_info("stopped");
    return 0;
}
