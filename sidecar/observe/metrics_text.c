#include "metrics_text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "version.h"

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

static void requests(text_t *t, const sc_metrics_text_input_t *in)
{
    header(t, "policy_sidecar_requests_total", "counter", "Requests answered, by service and status code.");
    for (size_t i = 0; i != in->config->num_services; ++i)
        for (int code = 0; code != SC_METRICS_MAX_STATUS; ++code) {
            uint64_t n = in->requests->services[i].requests[code];
            if (n != 0)
                emit(t, "policy_sidecar_requests_total{service=\"%s\",code=\"%d\"} %llu\n", in->config->services[i].name, code,
                     (unsigned long long)n);
        }
}

static void denials(text_t *t, const sc_metrics_text_input_t *in)
{
    static const char *const modes[] = {"enforce", "report_only"};
    header(t, "policy_sidecar_denials_total", "counter", "Requests refused (or, in report_only mode, that would be), by reason.");
    for (size_t i = 0; i != in->config->num_services; ++i)
        for (size_t r = 0; r != sc_metrics_num_reasons(); ++r)
            for (int m = 0; m != 2; ++m) {
                uint64_t n = in->requests->services[i].denials[r][m];
                if (n != 0)
                    emit(t, "policy_sidecar_denials_total{service=\"%s\",reason=\"%s\",mode=\"%s\"} %llu\n",
                         in->config->services[i].name, sc_metrics_reason_name(r), modes[m], (unsigned long long)n);
            }
    header(t, "policy_sidecar_rate_limited_total", "counter", "Requests refused with 429, by service.");
    for (size_t i = 0; i != in->config->num_services; ++i)
        emit(t, "policy_sidecar_rate_limited_total{service=\"%s\"} %llu\n", in->config->services[i].name,
             (unsigned long long)in->requests->services[i].rate_limited);
}

static void histogram(text_t *t, const sc_metrics_text_input_t *in, const char *name, const char *help, int upstream)
{
    header(t, name, "histogram", help);
    for (size_t i = 0; i != in->config->num_services; ++i) {
        const char *svc = in->config->services[i].name;
        const sc_histogram_t *h = upstream ? &in->requests->services[i].upstream : &in->requests->services[i].duration;
        uint64_t cumulative = 0;
        for (int b = 0; b != SC_METRICS_NUM_BUCKETS; ++b) {
            cumulative += h->buckets[b];
            emit(t, "%s_bucket{service=\"%s\",le=\"%s\"} %llu\n", name, svc, sc_metrics_bucket_le[b],
                 (unsigned long long)cumulative);
        }
        emit(t, "%s_bucket{service=\"%s\",le=\"+Inf\"} %llu\n", name, svc, (unsigned long long)h->count);
        emit(t, "%s_sum{service=\"%s\"} %.6f\n", name, svc, (double)h->sum_us / 1e6);
        emit(t, "%s_count{service=\"%s\"} %llu\n", name, svc, (unsigned long long)h->count);
    }
}

static void tenants(text_t *t, const sc_metrics_text_input_t *in)
{
    if (in->tenant_labels == NULL)
        return;
    size_t named = sc_tenant_labels_count(in->tenant_labels), max = in->config->metrics_max_tenants;
    header(t, "policy_sidecar_tenant_requests_total", "counter",
           "Requests by tenant (the first metrics.max_tenants tenants seen; the rest as _other).");
    for (size_t i = 0; i != in->config->num_services; ++i)
        for (size_t k = 0; k <= max; ++k) {
            if (k >= named && k != max)
                continue;
            uint64_t n = in->requests->services[i].tenant_requests[k];
            if (n != 0)
                emit(t, "policy_sidecar_tenant_requests_total{service=\"%s\",tenant=\"%s\"} %llu\n", in->config->services[i].name,
                     sc_tenant_labels_name(in->tenant_labels, k), (unsigned long long)n);
        }
}

static void counter(text_t *t, const char *name, const char *help, uint64_t value)
{
    header(t, name, "counter", help);
    emit(t, "%s %llu\n", name, (unsigned long long)value);
}

static void subsystems(text_t *t, const sc_metrics_text_input_t *in)
{
    counter(t, "policy_sidecar_tenant_cache_hits_total", "Tenant and key lookups answered from the cache.", in->store.hits);
    counter(t, "policy_sidecar_tenant_cache_misses_total", "Tenant and key lookups that needed Redis.", in->store.misses);
    counter(t, "policy_sidecar_tenant_cache_stale_total", "Records served past their TTL because Redis could not answer.",
            in->store.stale_served);
    counter(t, "policy_sidecar_tenant_cache_unavailable_total", "Lookups with neither Redis nor a usable cached record.",
            in->store.unavailable);
    counter(t, "policy_sidecar_tenant_cache_invalidations_total", "Invalidation messages received.", in->store.invalidations);
    counter(t, "policy_sidecar_tenant_cache_malformed_invalidations_total",
            "Invalidation messages that could not be read (each dropped the whole cache).", in->store.malformed_invalidations);
    counter(t, "policy_sidecar_redis_connects_total", "Successful Redis handshakes (the first one included).", in->redis.connects);
    counter(t, "policy_sidecar_redis_failures_total", "Redis connections lost or refused.", in->redis.failures);
    counter(t, "policy_sidecar_redis_timeouts_total", "Redis commands that missed their deadline.", in->redis.timeouts);
    counter(t, "policy_sidecar_redis_errors_total", "Redis error replies and commands lost with their connection.",
            in->redis.errors);
    counter(t, "policy_sidecar_ratelimit_fallbacks_total", "Redis-mode rate-limit decisions made locally because Redis could not.",
            in->ratelimit_fallbacks);
    header(t, "policy_sidecar_ratelimit_redis_commands_total", "counter",
           "Redis-mode rate-limit script calls: lease acquires, returns of unused tokens, single decisions.");
    emit(t, "policy_sidecar_ratelimit_redis_commands_total{command=\"acquire\"} %llu\n", (unsigned long long)in->leases.acquires);
    emit(t, "policy_sidecar_ratelimit_redis_commands_total{command=\"return\"} %llu\n", (unsigned long long)in->leases.returns);
    emit(t, "policy_sidecar_ratelimit_redis_commands_total{command=\"decide\"} %llu\n", (unsigned long long)in->leases.alone);
    counter(t, "policy_sidecar_ratelimit_lease_decisions_total",
            "Redis-mode rate-limit decisions made from a lease, without Redis.", in->leases.local);
    header(t, "policy_sidecar_ready", "gauge", "1 when /ready answers 200 (Redis connections and subscriptions up, not draining).");
    emit(t, "policy_sidecar_ready %d\n", in->ready);
    header(t, "policy_sidecar_inflight_requests", "gauge", "Requests between the pipeline and the end of their response.");
    emit(t, "policy_sidecar_inflight_requests %llu\n", (unsigned long long)in->inflight);
    header(t, "policy_sidecar_config_reloads_total", "counter",
           "SIGHUP reloads, by result; a success once every worker has switched to the new configuration.");
    emit(t, "policy_sidecar_config_reloads_total{result=\"success\"} %llu\n", (unsigned long long)in->reloads_applied);
    emit(t, "policy_sidecar_config_reloads_total{result=\"failure\"} %llu\n", (unsigned long long)in->reloads_failed);
    header(t, "policy_sidecar_connections", "gauge", "Client connections open on the service listeners (max_connections).");
    emit(t, "policy_sidecar_connections %llu\n", (unsigned long long)in->connections.open);
    counter(t, "policy_sidecar_request_heads_refused_total",
            "Request heads refused with 400/417 before any handler (ambiguous framing, bare LF, folded lines...).",
            in->connections.heads_refused);
    counter(t, "policy_sidecar_bodies_withheld_total", "Requests answered without their body being read (refused first).",
            in->connections.bodies_withheld);
    counter(t, "policy_sidecar_client_send_timeouts_total",
            "Client connections closed because a response write made no progress for client_send_timeout_s.",
            in->connections.send_timeouts);
    counter(t, "policy_sidecar_access_log_dropped_total", "Access-log lines dropped because the writer fell behind.",
            in->access_log_dropped);
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

static void jwks(text_t *t, const sc_metrics_text_input_t *in)
{
    const sc_jwks_source_stats_t *st = in->jwks;
    size_t n = in->num_jwks;
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

h2o_iovec_t sc_metrics_text_render(const sc_metrics_text_input_t *in, h2o_mem_pool_t *pool)
{
    text_t t = {pool, h2o_mem_alloc_pool(pool, 16384), 0, 16384};
    header(&t, "policy_sidecar_build_info", "gauge", "Always 1; the version is in the label.");
    emit(&t, "policy_sidecar_build_info{version=\"%s\"} 1\n", SC_VERSION);
    requests(&t, in);
    denials(&t, in);
    histogram(&t, in, "policy_sidecar_request_duration_seconds",
              "Time from the first byte of the request to the last of the response.", 0);
    histogram(&t, in, "policy_sidecar_upstream_duration_seconds", "Time from forwarding to the backend's response head.", 1);
    tenants(&t, in);
    subsystems(&t, in);
    jwks(&t, in);
    return h2o_iovec_init(t.buf, t.len);
}
