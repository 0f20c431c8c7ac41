/*
 * worker: one thread, one h2o event loop. Each worker accepts on every service listener and on
 * the admin listener (the kernel spreads connections across the workers' accept calls), runs
 * its own h2o contexts, and owns everything a request touches, so that no lock shared by all
 * workers is taken on the request path (the local rate limiter, one budget per process, locks
 * only the bucket of its table that holds the tenant: see ratelimit_local.h).
 *
 * Shutdown: the server asks each worker to drain; the worker closes its listeners, disables
 * keep-alive, and returns once its in-flight requests have finished (then closes its idle
 * connections, so that everything can be freed) or the grace period ends.
 */
#ifndef SC_WORKER_H
#define SC_WORKER_H

#include <h2o.h>
#include <pthread.h>

#include "access_log.h"
#include "config.h"
#include "conn_guard.h"
#include "jwt_keys.h"
#include "log.h"
#include "metrics.h"
#include "ratelimit_lease.h"
#include "ratelimit_local.h"
#include "request_env.h"
#include "tenant_store.h"

struct sc_jwt_cache;

/* Counters only this worker writes; the metrics endpoint sums them over workers. */
typedef struct sc_worker_stats {
    uint64_t ratelimit_fallbacks; /* redis-mode decisions made locally because Redis could not answer */
    uint64_t configs_switched;    /* reloaded configurations this worker has switched to */
} sc_worker_stats_t;

/* report_only would-deny lines per second and worker: enough to follow a rollout in the
 * journal, few enough that a flood of unauthenticated traffic cannot fill it (the access log and
 * the denials metric have every one). */
#define SC_WORKER_REPORT_ONLY_LINES_PER_S 10

/* A service as the server sets it up for every worker: its h2o configuration with our handler
 * and loggers in it, and its listening socket. */
typedef struct sc_worker_service_conf {
    h2o_globalconf_t globalconf;
    int listen_fd;
} sc_worker_service_conf_t;

/*
 * How the workers start and stop together. Each worker makes its loop, contexts and connections
 * on its own thread, and frees them there: libh2o keeps per-thread caches (socket buffers return
 * to the cache of the thread that created the socket), so a loop object made or freed on another
 * thread would share that thread's cache unlocked.
 */
typedef struct sc_worker_sync {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned reported;         /* workers done initialising */
    unsigned failed;           /* ...of which failed */
    int decision;              /* 0 until the server decides: 1 serve, -1 the start is refused */
    pthread_barrier_t stopped; /* every worker has stopped serving: none reads another's state any more */
} sc_worker_sync_t;

int sc_worker_sync_init(sc_worker_sync_t *sync, unsigned workers);
void sc_worker_sync_dispose(sc_worker_sync_t *sync);

/**
 * Main thread: waits until every worker has initialised, and returns how many failed.
 */
unsigned sc_worker_sync_wait_started(sc_worker_sync_t *sync, unsigned workers);

/**
 * Main thread: lets the workers serve (1), or has them free what they made and return (-1).
 */
void sc_worker_sync_decide(sc_worker_sync_t *sync, int decision);

/* What the workers share: made by the server before they start, and outliving them. */
typedef struct sc_worker_shared {
    sc_config_t *config;                /* as loaded at start */
    sc_worker_service_conf_t *services; /* one per config->services */
    h2o_globalconf_t *admin_conf;
    int admin_fd;
    sc_conn_guard_t *conn_guard;        /* max_connections */
    sc_ratelimit_local_t *local_limits; /* one budget per tenant per process */
    sc_access_log_t *access_log;        /* NULL when off */
    sc_tenant_labels_t *tenant_labels;  /* NULL unless metrics.per_tenant */
    sc_jwt_keys_t *jwt_keys;            /* every worker's fetched keys */
    sc_worker_sync_t *sync;             /* starting and stopping together */
} sc_worker_shared_t;

/* A service as seen from one worker. */
typedef struct sc_worker_service {
    struct sc_worker *worker;
    size_t index;
} sc_worker_service_t;

typedef struct sc_worker {
    const sc_worker_shared_t *shared;
    unsigned index;
    pthread_t thread;
    h2o_evloop_t *loop;
    h2o_context_t *service_ctx;         /* one per service */
    h2o_accept_ctx_t *service_accept;   /* one per service */
    h2o_socket_t **service_listeners;   /* one per service; NULL once closed */
    struct sc_worker_service *services; /* one per service: what the connection guard asks about */
    h2o_timeout_t accept_pause;         /* while accepting is paused (max_connections, EMFILE) */
    h2o_timeout_t client_send;          /* client_send_timeout_s: every connection's response writes (http1_server.h) */
    h2o_timeout_entry_t accept_resume;
    int accept_paused;
    const char *accept_pause_logged; /* the reason of the episode already logged, NULL when none */
    h2o_context_t admin_ctx;
    struct sc_upstream_pool **upstream_pools; /* one per service: this worker's backend connections */
    h2o_accept_ctx_t admin_accept;
    h2o_socket_t *admin_listener;
    h2o_multithread_receiver_t control;     /* drain and reload requests from the main thread */
    sc_config_t *config;                    /* the current configuration; requests hold their own reference */
    sc_tenant_store_t *store;               /* tenant and key records; NULL without redis */
    sc_ratelimit_lease_table_t *leases;     /* redis-mode rate-limit leases (destroy after store); NULL without redis */
    struct sc_jwt_cache *jwt_cache;         /* verified tokens; NULL when disabled */
    sc_jwt_keys_worker_t *jwt_keys;         /* fetched JWT keys and the requests waiting for them */
    struct sc_auth_failures *auth_failures; /* the pre-auth failure budget and failed signatures (auth_failures.h) */
    int ratelimit_degraded;                 /* redis-mode limits are being decided locally (logged once) */
    sc_log_throttle_t upstream_log;         /* backend failures: one log line per second at most */
    sc_log_throttle_t report_only_log;      /* would-deny decisions: SC_WORKER_REPORT_ONLY_LINES_PER_S at most */
    sc_worker_stats_t stats;
    sc_metrics_t metrics;
    size_t inflight; /* requests between handler and response end */
    int draining;
    int stopped_cleanly;  /* drained, every connection closed, everything freed */
    sc_request_env_t env; /* what its requests are given: pointers to the above and to the shared objects */
} sc_worker_t;

/**
 * The thread body. `worker->shared` and `worker->index` are set. Creates the loop, the contexts,
 * the listener sockets (on duplicates of the server's listening descriptors) and the connections,
 * reports to the server (sc_worker_sync_t) and waits for its decision; serves until drained,
 * closes its idle connections, waits for every worker to have stopped serving, then frees
 * everything it made (unless requests were cut: stopped_cleanly 0).
 */
void *sc_worker_run(void *worker);

/**
 * Asks the worker to drain (thread-safe).
 */
void sc_worker_request_drain(sc_worker_t *worker);

/**
 * Makes `config` the worker's configuration for new requests (thread-safe; takes a reference).
 * Requests already running keep theirs.
 */
void sc_worker_use_config(sc_worker_t *worker, sc_config_t *config);

#endif
