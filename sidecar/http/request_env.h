/*
 * request_env: what the request path is given by the worker that runs it. Each worker fills one
 * at creation (worker.c) and binds it to each of its h2o contexts, in the context's storage;
 * handlers and loggers find it there (sc_request_env_of), and every request points at its
 * worker's (sc_request_t.env). The modules of the request path (pipeline, auth_jwt, jwt_keys, ratelimit,
 * response_filter, request_log, upstream) reach their worker and the process only through it, so that
 * they depend on no module that knows the server or the worker.
 *
 * Pointers and plain values only: what they point at belongs to the worker or to the server,
 * both of which outlive every request. Everything here is read and written on the worker's
 * thread, except where a field says otherwise.
 */
#ifndef SC_REQUEST_ENV_H
#define SC_REQUEST_ENV_H

#include <h2o.h>
#include <stdint.h>

#include "access_log.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "ratelimit_local.h"
#include "tenant_store.h"

struct sc_jwt_cache;
struct sc_jwt_keys_worker;
struct sc_auth_failures;
struct sc_ratelimit_lease_table;
struct sc_upstream_pool;

typedef struct sc_request_env {
    sc_config_t *const *config;          /* the worker's current configuration: new requests take a reference */
    const sc_config_t *start_config;     /* as loaded at start: what cannot reload (Redis prefix, services) */
    sc_tenant_store_t *store;            /* tenant and key records; NULL without redis */
    sc_redis_cluster_t *redis;           /* the worker's Redis command client (its store's), for rate limits; NULL without redis */
    struct sc_jwt_cache *jwt_cache;      /* verified tokens; NULL when disabled */
    struct sc_jwt_keys_worker *jwt_keys; /* fetched JWT keys and the requests waiting for them */
    struct sc_auth_failures *auth_failures;
    sc_ratelimit_local_t *local_limits; /* shared by the workers: one budget per tenant per process */
    int *ratelimit_degraded;            /* redis-mode limits are being decided locally (logged once) */
    uint64_t *ratelimit_fallbacks;      /* counter, read by the metrics scrape on any thread */
    sc_log_throttle_t *upstream_log;    /* backend failures */
    sc_log_throttle_t *report_only_log; /* would-deny decisions */
    sc_metrics_t *metrics;              /* the worker's counters */
    size_t *inflight;                   /* requests between handler and response end (read by the scrape on any thread) */
    const int *draining;                /* the worker is shutting down */
    sc_access_log_t *access_log;        /* NULL when off */
    sc_tenant_labels_t *tenant_labels;  /* NULL unless metrics.per_tenant */

    struct sc_ratelimit_lease_table *leases;  /* redis-mode budgets this worker leased; NULL without redis */
    struct sc_upstream_pool **upstream_pools; /* the worker's backend connections, one pool per service */
} sc_request_env_t;

/**
 * A monotonic clock in nanoseconds, coarse (a few ms): for budgets, not for measurements.
 */
uint64_t sc_request_env_now_ns(void);

/**
 * Binds `env` to an h2o context (its storage); call once per context, on the thread that created
 * the context, before the worker runs: the storage key is allocated by the first call.
 */
void sc_request_env_bind(h2o_context_t *ctx, sc_request_env_t *env);

/**
 * The environment bound to the context of a request's connection.
 */
sc_request_env_t *sc_request_env_of(h2o_context_t *ctx);

/**
 * A request entered the pipeline, and (called when its memory pool is released, once the
 * response is over: request.c) it has left: the in-flight count that shutdown waits on.
 */
void sc_request_env_started(const sc_request_env_t *env);
void sc_request_env_finished(const sc_request_env_t *env);

#endif
