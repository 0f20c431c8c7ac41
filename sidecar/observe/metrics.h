/*
 * metrics: Prometheus counters and histograms (text exposition format 0.0.4) at /metrics on the
 * admin listener.
 *
 * Each worker thread counts into its own sc_metrics_t, so the request path takes no lock and
 * shares no cache line; the owner updates with relaxed atomic stores and the scrape (on any
 * thread) reads with relaxed atomic loads and sums the workers. Series:
 *
 *   policy_sidecar_build_info{version}
 *   policy_sidecar_requests_total{service,code}
 *   policy_sidecar_denials_total{service,reason,mode}          mode: enforce | report_only
 *   policy_sidecar_rate_limited_total{service}
 *   policy_sidecar_request_duration_seconds{service}           histogram
 *   policy_sidecar_upstream_duration_seconds{service}          histogram
 *   policy_sidecar_tenant_requests_total{service,tenant}       only with metrics.per_tenant; bounded
 *   policy_sidecar_inflight_requests
 *   policy_sidecar_ready                                       1 when /ready answers 200
 *   policy_sidecar_redis_connects_total / _failures_total / _timeouts_total / _errors_total
 *   policy_sidecar_tenant_cache_hits_total / _misses_total / _stale_total / _unavailable_total
 *   policy_sidecar_tenant_cache_invalidations_total
 *   policy_sidecar_tenant_cache_malformed_invalidations_total
 *   policy_sidecar_ratelimit_fallbacks_total
 *   policy_sidecar_ratelimit_redis_commands_total{command}     command: acquire | return | decide (ratelimit_lease.h)
 *   policy_sidecar_ratelimit_lease_decisions_total             redis-mode decisions made from a lease
 *   policy_sidecar_config_reloads_total{result}                result: success (every worker switched) | failure
 *   policy_sidecar_access_log_dropped_total
 *   policy_sidecar_jwks_refreshes_total{issuer,result}         fetched key sets (jwks_refresher.h); result: success | failure
 *   policy_sidecar_jwks_keys{issuer}                           gauge: keys in the current fetched set
 *   policy_sidecar_jwks_age_seconds{issuer}                    gauge: since the last successful fetch
 *   policy_sidecar_connections                                 gauge: service connections (max_connections)
 *   policy_sidecar_request_heads_refused_total                 400/417 before any handler (http1_parse.h)
 *   policy_sidecar_bodies_withheld_total                       answered without reading the body (refused first)
 *   policy_sidecar_client_send_timeouts_total                  closed: a response write stalled (client_send_timeout_s)
 */
#ifndef SC_METRICS_H
#define SC_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "tenant_labels.h"

#define SC_METRICS_MAX_STATUS 600
#define SC_METRICS_NUM_BUCKETS 14
#define SC_METRICS_MAX_REASONS 64
#define SC_METRICS_OTHER_TENANT SC_TENANT_LABELS_OTHER

typedef struct sc_histogram {
    uint64_t buckets[SC_METRICS_NUM_BUCKETS]; /* not cumulative: summed at scrape time */
    uint64_t count;
    uint64_t sum_us;
} sc_histogram_t;

typedef struct sc_service_metrics {
    uint64_t requests[SC_METRICS_MAX_STATUS];
    uint64_t denials[SC_METRICS_MAX_REASONS][2];
    uint64_t rate_limited;
    sc_histogram_t duration;
    sc_histogram_t upstream;
    uint64_t *tenant_requests; /* [max_tenants + 1], the last one for SC_METRICS_OTHER_TENANT */
} sc_service_metrics_t;

typedef struct sc_metrics {
    sc_service_metrics_t *services;
    size_t num_services;
} sc_metrics_t;

int sc_metrics_init(sc_metrics_t *m, size_t num_services, size_t max_tenants);
void sc_metrics_dispose(sc_metrics_t *m);

/**
 * Registers a denial reason (a static string); returns its index. Unknown reasons at record
 * time count as "other". Call before the workers start.
 */
size_t sc_metrics_reason_index(const char *reason);

/* Recording, on the owning worker thread. */
void sc_metrics_count(uint64_t *counter);
void sc_metrics_observe(sc_histogram_t *h, uint64_t duration_us);
void sc_metrics_count_denial(sc_service_metrics_t *s, const char *reason, int report_only);

/* Scraping, on any thread: relaxed reads of another thread's counters. */
uint64_t sc_metrics_read(const uint64_t *counter);

/**
 * Adds a worker's counters to `sum` (made by sc_metrics_init with the same sizes; owned by the
 * caller), reading them as sc_metrics_read does.
 */
void sc_metrics_add(sc_metrics_t *sum, const sc_metrics_t *m, size_t max_tenants);

/* Histogram bucket bounds, in microseconds and as Prometheus "le" labels. */
extern const uint64_t sc_metrics_bucket_us[SC_METRICS_NUM_BUCKETS];
extern const char *const sc_metrics_bucket_le[SC_METRICS_NUM_BUCKETS];

/* The reason registry, for the scrape. */
size_t sc_metrics_num_reasons(void);
const char *sc_metrics_reason_name(size_t index);

#endif
