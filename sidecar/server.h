/*
 * server: the process. Binds every listener (so a port in use stops the start before anything
 * serves), builds one h2o configuration per service and one for the admin endpoints, starts the
 * workers, and turns SIGTERM/SIGINT into a bounded graceful drain.
 */
#ifndef SC_SERVER_H
#define SC_SERVER_H

#include <h2o.h>

#include "config.h"

struct sc_worker;

typedef struct sc_server_service {
    h2o_globalconf_t globalconf;
    h2o_handler_t *pipeline;
    int listen_fd;
} sc_server_service_t;

typedef struct sc_server {
    const sc_config_t *config;
    sc_server_service_t *services; /* one per config->services */
    h2o_globalconf_t admin_conf;
    int admin_fd;
    struct sc_worker *workers;
    int draining; /* read with __atomic_load_n: written by the main thread */
} sc_server_t;

/**
 * Serves `config` until SIGTERM or SIGINT, then drains. Returns the process exit status.
 */
int sc_server_run(const sc_config_t *config);

/**
 * 1 once shutdown has begun (thread-safe).
 */
int sc_server_is_draining(const sc_server_t *server);

#endif
