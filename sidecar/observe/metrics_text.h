/*
 * metrics_text: the /metrics page, Prometheus text exposition format 0.0.4 (the series are
 * listed in metrics.h). It renders what the server gathers (server.c: sc_server_render_metrics):
 * the workers' counters summed, and the figures of the modules that keep their own (tenant store,
 * Redis clients, connection guard, access log, key refresher, reloads).
 */
#ifndef SC_METRICS_TEXT_H
#define SC_METRICS_TEXT_H

#include <h2o.h>
#include <stdint.h>

#include "config.h"
#include "jwks_refresher.h"
#include "metrics.h"
#include "ratelimit_lease.h"
#include "redis_client.h"
#include "tenant_labels.h"
#include "tenant_store.h"

typedef struct sc_metrics_text_input {
    const sc_config_t *config;         /* as loaded at start: the services */
    const sc_metrics_t *requests;      /* every worker's request counters, summed */
    sc_tenant_labels_t *tenant_labels; /* NULL unless metrics.per_tenant */
    sc_tenant_store_stats_t store;     /* every worker's, summed */
    sc_redis_client_stats_t redis;     /* every worker's command connection, summed */
    uint64_t ratelimit_fallbacks;
    sc_ratelimit_lease_stats_t leases; /* every worker's, summed */
    uint64_t inflight;
    int ready;                /* /ready would answer 200 */
    uint64_t reloads_applied; /* successful reloads every worker has switched to */
    uint64_t reloads_failed;
    struct {
        uint64_t open;            /* service connections now (conn_guard.h) */
        uint64_t heads_refused;   /* request heads refused before any handler (http1_server.h) */
        uint64_t bodies_withheld; /* responses sent without reading the request body */
        uint64_t send_timeouts;   /* closed: a response write made no progress (client_send_timeout_s) */
    } connections;
    uint64_t access_log_dropped;
    const sc_jwks_source_stats_t *jwks; /* one per fetched key source */
    size_t num_jwks;
} sc_metrics_text_input_t;

/**
 * Renders the page into `pool`.
 */
h2o_iovec_t sc_metrics_text_render(const sc_metrics_text_input_t *in, h2o_mem_pool_t *pool);

#endif
