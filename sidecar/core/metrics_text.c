#include "metrics_text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "jwks_refresher.h"
#include "metrics.h"
#include "server.h"
#include "version.h"
#include "worker.h"

typedef struct text {
    h2o_mem_pool_t *pool;
    char *buf;
    size_t len, cap;
} text_t;

static void emit(text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void emit(text_t *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return; /* an encoding error: the line is left out rather than the scrape looping */
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n;
        char *bigger = h2o_mem_alloc_pool(t->pool, cap);
        memcpy(bigger, t->buf, t->len);
        t->buf = bigger;
        t->cap = cap;
    }
}

static void header(text_t *t, const char *name, const char *type, const char *help)
{
    emit(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Sums one counter over the workers; `at` picks it out of a worker. */
#define SUM_WORKERS(server, expr)                                                                                                  \
    ({                                                                                                                             \
        uint64_t sum_ = 0;                                                                                                         \
        for (unsigned wi_ = 0; wi_ != (server)->config->threads; ++wi_) {                                                          \
            sc_worker_t *w = &(server)->workers[wi_];                                                                              \
            sum_ += (expr);                                                                                                        \
        }                                                                                                                          \
        sum_;                                                                                                                      \
    })

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

static void requests(text_t *t, sc_server_t *s)
{
    header(t, "policy_sidecar_requests_total", "counter", "Requests answered, by service and status code.");
    for (size_t i = 0; i != s->config->num_services; ++i)
        for (int code = 0; code != SC_METRICS_MAX_STATUS; ++code) {
            uint64_t n = SUM_WORKERS(s, sc_metrics_read(&w->metrics.services[i].requests[code]));
            if (n != 0)
                emit(t, "policy_sidecar_requests_total{service=\"%s\",code=\"%d\"} %llu\n", s->config->services[i].name, code,
                     (unsigned long long)n);
        }
}

static void denials(text_t *t, sc_server_t *s)
{
    static const char *const modes[] = {"enforce", "report_only"};
    header(t, "policy_sidecar_denials_total", "counter", "Requests refused (or, in report_only mode, that would be), by reason.");
    for (size_t i = 0; i != s->config->num_services; ++i)
        for (size_t r = 0; r != sc_metrics_num_reasons(); ++r)
            for (int m = 0; m != 2; ++m) {
                uint64_t n = SUM_WORKERS(s, sc_metrics_read(&w->metrics.services[i].denials[r][m]));
                if (n != 0)
                    emit(t, "policy_sidecar_denials_total{service=\"%s\",reason=\"%s\",mode=\"%s\"} %llu\n",
                         s->config->services[i].name, sc_metrics_reason_name(r), modes[m], (unsigned long long)n);
            }
    header(t, "policy_sidecar_rate_limited_total", "counter", "Requests refused with 429, by service.");
    for (size_t i = 0; i != s->config->num_services; ++i)
        emit(t, "policy_sidecar_rate_limited_total{service=\"%s\"} %llu\n", s->config->services[i].name,
             (unsigned long long)SUM_WORKERS(s, sc_metrics_read(&w->metrics.services[i].rate_limited)));
}

static void histogram(text_t *t, sc_server_t *s, const char *name, const char *help, int upstream)
{
    header(t, name, "histogram", help);
    for (size_t i = 0; i != s->config->num_services; ++i) {
        const char *svc = s->config->services[i].name;
        uint64_t cumulative = 0;
        for (int b = 0; b != SC_METRICS_NUM_BUCKETS; ++b) {
            cumulative += SUM_WORKERS(s, sc_metrics_read(upstream ? &w->metrics.services[i].upstream.buckets[b]
                                                                  : &w->metrics.services[i].duration.buckets[b]));
            emit(t, "%s_bucket{service=\"%s\",le=\"%s\"} %llu\n", name, svc, sc_metrics_bucket_le[b],
                 (unsigned long long)cumulative);
        }
        uint64_t count = SUM_WORKERS(
            s, sc_metrics_read(upstream ? &w->metrics.services[i].upstream.count : &w->metrics.services[i].duration.count));
        uint64_t sum_us = SUM_WORKERS(
            s, sc_metrics_read(upstream ? &w->metrics.services[i].upstream.sum_us : &w->metrics.services[i].duration.sum_us));
        emit(t, "%s_bucket{service=\"%s\",le=\"+Inf\"} %llu\n", name, svc, (unsigned long long)count);
        emit(t, "%s_sum{service=\"%s\"} %.6f\n", name, svc, (double)sum_us / 1e6);
        emit(t, "%s_count{service=\"%s\"} %llu\n", name, svc, (unsigned long long)count);
    }
}

static void tenants(text_t *t, sc_server_t *s)
{
    if (s->tenant_labels == NULL)
        return;
    size_t named = sc_tenant_labels_count(s->tenant_labels), max = s->config->metrics_max_tenants;
    header(t, "policy_sidecar_tenant_requests_total", "counter",
           "Requests by tenant (the first metrics.max_tenants tenants seen; the rest as _other).");
    for (size_t i = 0; i != s->config->num_services; ++i)
        for (size_t k = 0; k <= max; ++k) {
            if (k >= named && k != max)
                continue;
            uint64_t n = SUM_WORKERS(s, sc_metrics_read(&w->metrics.services[i].tenant_requests[k]));
            if (n != 0)
                emit(t, "policy_sidecar_tenant_requests_total{service=\"%s\",tenant=\"%s\"} %llu\n", s->config->services[i].name,
                     sc_tenant_labels_name(s->tenant_labels, k), (unsigned long long)n);
        }
}

static void counter(text_t *t, const char *name, const char *help, uint64_t value)
{
    header(t, name, "counter", help);
    emit(t, "%s %llu\n", name, (unsigned long long)value);
}

/* Store and Redis counters live in each worker's store; they are read racily but atomically enough (aligned 64-bit). */
#define STORE_SUM(s, field)                                                                                                        \
    SUM_WORKERS(s, w->store != NULL ? __atomic_load_n(&sc_tenant_store_stats(w->store)->field, __ATOMIC_RELAXED) : 0)
#define REDIS_SUM(s, field)                                                                                                        \
    SUM_WORKERS(s, w->store != NULL                                                                                                \
                       ? __atomic_load_n(&sc_redis_client_stats(sc_tenant_store_redis(w->store))->field, __ATOMIC_RELAXED)         \
                       : 0)

static void subsystems(text_t *t, sc_server_t *s)
{
    counter(t, "policy_sidecar_tenant_cache_hits_total", "Tenant and key lookups answered from the cache.", STORE_SUM(s, hits));
    counter(t, "policy_sidecar_tenant_cache_misses_total", "Tenant and key lookups that needed Redis.", STORE_SUM(s, misses));
    counter(t, "policy_sidecar_tenant_cache_stale_total", "Records served past their TTL because Redis could not answer.",
            STORE_SUM(s, stale_served));
    counter(t, "policy_sidecar_tenant_cache_unavailable_total", "Lookups with neither Redis nor a usable cached record.",
            STORE_SUM(s, unavailable));
    counter(t, "policy_sidecar_tenant_cache_invalidations_total", "Invalidation messages received.", STORE_SUM(s, invalidations));
    counter(t, "policy_sidecar_tenant_cache_malformed_invalidations_total",
            "Invalidation messages that could not be read (each dropped the whole cache).", STORE_SUM(s, malformed_invalidations));
    counter(t, "policy_sidecar_redis_connects_total", "Successful Redis handshakes (the first one included).",
            REDIS_SUM(s, connects));
    counter(t, "policy_sidecar_redis_failures_total", "Redis connections lost or refused.", REDIS_SUM(s, failures));
    counter(t, "policy_sidecar_redis_timeouts_total", "Redis commands that missed their deadline.", REDIS_SUM(s, timeouts));
    counter(t, "policy_sidecar_redis_errors_total", "Redis error replies and commands lost with their connection.",
            REDIS_SUM(s, errors));
    counter(t, "policy_sidecar_ratelimit_fallbacks_total", "Redis-mode rate-limit decisions made locally because Redis could not.",
            SUM_WORKERS(s, __atomic_load_n(&w->stats.ratelimit_fallbacks, __ATOMIC_RELAXED)));
    sc_server_wait_t wait;
    header(t, "policy_sidecar_ready", "gauge", "1 when /ready answers 200 (Redis connections and subscriptions up, not draining).");
    emit(t, "policy_sidecar_ready %d\n", sc_server_waiting_for(s, &wait, 1) == 0);
    header(t, "policy_sidecar_inflight_requests", "gauge", "Requests between the pipeline and the end of their response.");
    emit(t, "policy_sidecar_inflight_requests %llu\n",
         (unsigned long long)SUM_WORKERS(s, __atomic_load_n(&w->inflight, __ATOMIC_RELAXED)));
    header(t, "policy_sidecar_config_reloads_total", "counter",
           "SIGHUP reloads, by result; a success once every worker has switched to the new configuration.");
    emit(t, "policy_sidecar_config_reloads_total{result=\"success\"} %llu\n", (unsigned long long)reloads_applied(s));
    emit(t, "policy_sidecar_config_reloads_total{result=\"failure\"} %llu\n",
         (unsigned long long)__atomic_load_n(&s->reloads_failed, __ATOMIC_RELAXED));
    sc_conn_guard_stats_t g;
    sc_conn_guard_stats(s->conn_guard, &g);
    header(t, "policy_sidecar_connections", "gauge", "Client connections open on the service listeners (max_connections).");
    emit(t, "policy_sidecar_connections %llu\n", (unsigned long long)g.connections);
    header(t, "policy_sidecar_buffered_request_bytes", "gauge",
           "Request bytes buffered by all connections before a handler runs (max_buffered_body_bytes).");
    emit(t, "policy_sidecar_buffered_request_bytes %llu\n", (unsigned long long)g.buffered_bytes);
    counter(t, "policy_sidecar_uploads_refused_total", "Request bodies refused with 503: max_buffered_body_bytes reached.",
            g.uploads_refused);
    counter(t, "policy_sidecar_bodies_withheld_total", "Requests answered before their body was read (no credentials).",
            g.bodies_withheld);
    counter(t, "policy_sidecar_access_log_dropped_total", "Access-log lines dropped because the writer fell behind.",
            s->access_log != NULL ? sc_access_log_dropped(s->access_log) : 0);
}

/* A label value in the text format: backslash, double quote and newline escaped. */
static const char *label_value(const char *s, char *buf, size_t size)
{
    size_t n = 0;
    for (; *s != '\0' && n + 3 < size; ++s) {
        if (*s == '\\' || *s == '"' || *s == '\n')
            buf[n++] = '\\';
        buf[n++] = *s == '\n' ? 'n' : *s;
    }
    buf[n] = '\0';
    return buf;
}

#define MAX_JWKS_SOURCES 64

static void jwks(text_t *t, sc_server_t *s)
{
    sc_jwks_source_stats_t st[MAX_JWKS_SOURCES];
    size_t n = s->jwks != NULL ? sc_jwks_refresher_stats(s->jwks, st, MAX_JWKS_SOURCES) : 0;
    char iss[512];
    int64_t now = (int64_t)time(NULL);
    header(t, "policy_sidecar_jwks_refreshes_total", "counter", "Key set fetches from identity providers, by issuer and result.");
    for (size_t i = 0; i != n; ++i) {
        label_value(st[i].issuer, iss, sizeof(iss));
        emit(t, "policy_sidecar_jwks_refreshes_total{issuer=\"%s\",result=\"success\"} %llu\n", iss,
             (unsigned long long)st[i].refreshes_ok);
        emit(t, "policy_sidecar_jwks_refreshes_total{issuer=\"%s\",result=\"failure\"} %llu\n", iss,
             (unsigned long long)st[i].refreshes_failed);
    }
    header(t, "policy_sidecar_jwks_keys", "gauge", "Keys in the current fetched key set, by issuer.");
    for (size_t i = 0; i != n; ++i)
        emit(t, "policy_sidecar_jwks_keys{issuer=\"%s\"} %zu\n", label_value(st[i].issuer, iss, sizeof(iss)), st[i].num_keys);
    header(t, "policy_sidecar_jwks_age_seconds", "gauge",
           "Seconds since the current key set was last fetched successfully (or since its cache file was written).");
    for (size_t i = 0; i != n; ++i)
        emit(t, "policy_sidecar_jwks_age_seconds{issuer=\"%s\"} %lld\n", label_value(st[i].issuer, iss, sizeof(iss)),
             (long long)(now - st[i].fetched_at));
}

h2o_iovec_t sc_metrics_text_render(sc_server_t *server, h2o_mem_pool_t *pool)
{
    text_t t = {pool, h2o_mem_alloc_pool(pool, 16384), 0, 16384};
    header(&t, "policy_sidecar_build_info", "gauge", "Always 1; the version is in the label.");
    emit(&t, "policy_sidecar_build_info{version=\"%s\"} 1\n", SC_VERSION);
    requests(&t, server);
    denials(&t, server);
    histogram(&t, server, "policy_sidecar_request_duration_seconds",
              "Time from the first byte of the request to the last of the response.", 0);
    histogram(&t, server, "policy_sidecar_upstream_duration_seconds", "Time from forwarding to the backend's response head.", 1);
    tenants(&t, server);
    subsystems(&t, server);
    jwks(&t, server);
    return h2o_iovec_init(t.buf, t.len);
}
