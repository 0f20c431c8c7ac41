/*
 * server: the process. Binds every listener (so a port in use stops the start before anything
 * serves), builds one h2o configuration per service and one for the admin endpoints, starts the
 * workers, and turns SIGTERM/SIGINT into a bounded graceful drain.
 */
#ifndef SC_SERVER_H
#define SC_SERVER_H

#include <h2o.h>

#include "access_log.h"
#include "conn_guard.h"
#include "config.h"
#include "jwt_keys.h"
#include "metrics.h"
#include "ratelimit_local.h"
#include "worker.h"

struct sc_jwks_refresher;

typedef struct sc_server {
    sc_config_t *config;                /* as loaded at start: what cannot reload (listeners, Redis...) comes from here */
    sc_worker_service_conf_t *services; /* one per config->services */
    h2o_globalconf_t admin_conf;
    int admin_fd;
    struct sc_worker *workers;
    sc_ratelimit_local_t *local_limits; /* shared by the workers: one budget per tenant per process */
    sc_access_log_t *access_log;        /* NULL when off */
    sc_tenant_labels_t *tenant_labels;  /* NULL unless metrics.per_tenant */
    struct sc_jwks_refresher *jwks;     /* keys fetched from identity providers */
    sc_jwt_keys_t *jwt_keys;            /* ...as each worker sees them */
    sc_worker_shared_t shared;          /* what the workers are given of the above */
    size_t services_ready;              /* services whose listener and h2o configuration exist */
    int admin_ready;                    /* admin_conf is initialised */
    sc_worker_sync_t sync;              /* the workers' start and stop */
    int sync_ready;
    unsigned threads_started;
    sc_conn_guard_t *conn_guard; /* max_connections, for every worker */
    uint64_t reloads_ok, reloads_failed;
    int draining; /* read with __atomic_load_n: written by the main thread */
} sc_server_t;

/* Registers the admin endpoints' handler on the admin listener's path "/" (admin.h): the server
 * is given it, so that the admin module depends on the server and not the other way round. */
typedef void (*sc_server_admin_register_cb)(h2o_pathconf_t *pathconf, struct sc_server *server);

/**
 * Serves `config` until SIGTERM or SIGINT, then drains. SIGHUP reloads the configuration file
 * (policies and JWT issuers; a refused reload leaves the running configuration in place), SIGUSR1
 * reopens the access log. Returns the process exit status.
 */
int sc_server_run(sc_config_t *config, sc_server_admin_register_cb register_admin);

/**
 * The /metrics page (metrics_text.h), rendered into `pool` from any worker thread; {NULL, 0}
 * when out of memory.
 */
h2o_iovec_t sc_server_render_metrics(sc_server_t *server, h2o_mem_pool_t *pool);

/**
 * 1 once shutdown has begun (thread-safe).
 */
int sc_server_is_draining(const sc_server_t *server);

/* Something the server waits for before it can serve every request. */
typedef struct sc_server_wait {
    const char *what;
    int worker; /* whose it is; -1: the process's */
} sc_server_wait_t;

/**
 * What keeps the server from being ready (thread-safe): draining, and each worker's Redis
 * connection and invalidation subscription that is not up. Fills at most `max` and returns how
 * many; 0 means ready. The configuration is loaded and the workers run before anyone can ask.
 */
size_t sc_server_waiting_for(const sc_server_t *server, sc_server_wait_t *waits, size_t max);

#endif
