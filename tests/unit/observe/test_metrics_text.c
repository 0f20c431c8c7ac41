/* /metrics from the figures the server gathers: the workers' counters summed (sc_metrics_add),
 * cumulative histogram buckets, per-tenant series, and the process's gauges and counters, as
 * Prometheus text. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "metrics_text.h"

#define MAX_TENANTS 2

static sc_service_t services[] = {{.name = "langchain"}, {.name = "rag"}};
static const sc_config_t config = {.services = services, .num_services = 2, .metrics_max_tenants = MAX_TENANTS};

/* Renders `in` and checks that `line` is one of the page's lines. */
static void assert_line(const char *page, const char *line)
{
    size_t len = strlen(line);
    for (const char *p = page; (p = strstr(p, line)) != NULL; p += len)
        if ((p == page || p[-1] == '\n') && p[len] == '\n')
            return;
    fail_msg("no line \"%s\" in:\n%s", line, page);
}

static void assert_no_line_starting(const char *page, const char *prefix)
{
    for (const char *p = page; (p = strstr(p, prefix)) != NULL; ++p)
        if (p == page || p[-1] == '\n')
            fail_msg("unexpected line starting \"%s\"", prefix);
}

static char *render(const sc_metrics_text_input_t *in, h2o_mem_pool_t *pool)
{
    h2o_iovec_t page = sc_metrics_text_render(in, pool);
    char *s = h2o_mem_alloc_pool(pool, page.len + 1);
    memcpy(s, page.base, page.len);
    s[page.len] = '\0';
    return s;
}

static void test_workers_are_summed(void **state)
{
    (void)state;
    sc_metrics_t worker[2], sum;
    for (int i = 0; i != 2; ++i)
        assert_int_equal(sc_metrics_init(&worker[i], 2, MAX_TENANTS), 0);
    assert_int_equal(sc_metrics_init(&sum, 2, MAX_TENANTS), 0);
    sc_metrics_count(&worker[0].services[0].requests[200]);
    sc_metrics_count(&worker[1].services[0].requests[200]);
    sc_metrics_count(&worker[1].services[0].requests[200]);
    sc_metrics_count(&worker[1].services[1].requests[429]);
    sc_metrics_count(&worker[0].services[1].rate_limited);
    sc_metrics_reason_index("missing_tenant"); /* reasons are registered at start (denials.c) */
    sc_metrics_count_denial(&worker[0].services[0], "missing_tenant", 1);
    sc_metrics_observe(&worker[0].services[0].duration, 1);         /* the first bucket */
    sc_metrics_observe(&worker[1].services[0].duration, 100000000); /* past the last: +Inf only */
    sc_metrics_count(&worker[1].services[0].tenant_requests[MAX_TENANTS]);
    for (int i = 0; i != 2; ++i)
        sc_metrics_add(&sum, &worker[i], MAX_TENANTS);
    assert_int_equal(sum.services[0].requests[200], 3);
    assert_int_equal(sum.services[1].requests[429], 1);
    assert_int_equal(sum.services[0].duration.count, 2);

    sc_tenant_labels_t *labels = sc_tenant_labels_create(MAX_TENANTS);
    assert_non_null(labels);
    sc_metrics_text_input_t in = {.config = &config, .requests = &sum, .tenant_labels = labels};
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    char *page = render(&in, &pool);
    assert_line(page, "policy_sidecar_requests_total{service=\"langchain\",code=\"200\"} 3");
    assert_line(page, "policy_sidecar_requests_total{service=\"rag\",code=\"429\"} 1");
    assert_no_line_starting(page, "policy_sidecar_requests_total{service=\"rag\",code=\"200\"}"); /* zero: left out */
    assert_line(page, "policy_sidecar_rate_limited_total{service=\"rag\"} 1");
    assert_line(page, "policy_sidecar_rate_limited_total{service=\"langchain\"} 0");
    assert_line(page, "policy_sidecar_denials_total{service=\"langchain\",reason=\"missing_tenant\",mode=\"report_only\"} 1");
    char line[160];
    snprintf(line, sizeof(line), "policy_sidecar_request_duration_seconds_bucket{service=\"langchain\",le=\"%s\"} 1",
             sc_metrics_bucket_le[SC_METRICS_NUM_BUCKETS - 1]); /* cumulative: the first bucket's one */
    assert_line(page, line);
    assert_line(page, "policy_sidecar_request_duration_seconds_bucket{service=\"langchain\",le=\"+Inf\"} 2");
    assert_line(page, "policy_sidecar_request_duration_seconds_count{service=\"langchain\"} 2");
    assert_line(page, "policy_sidecar_tenant_requests_total{service=\"langchain\",tenant=\"_other\"} 1");
    h2o_mem_clear_pool(&pool);
    sc_tenant_labels_destroy(labels);
    for (int i = 0; i != 2; ++i)
        sc_metrics_dispose(&worker[i]);
    sc_metrics_dispose(&sum);
}

static void test_process_figures(void **state)
{
    (void)state;
    sc_metrics_t sum;
    assert_int_equal(sc_metrics_init(&sum, 2, MAX_TENANTS), 0);
    static const sc_jwks_source_stats_t jwks[] = {{.issuer = "https://idp.example/\"x\"", .refreshes_ok = 4, .num_keys = 2}};
    sc_metrics_text_input_t in = {
        .config = &config,
        .requests = &sum,
        .store = {.hits = 5, .misses = 6, .malformed_invalidations = 1},
        .redis = {.connects = 2, .timeouts = 3},
        .ratelimit_fallbacks = 8,
        .inflight = 9,
        .ready = 1,
        .reloads_applied = 10,
        .reloads_failed = 11,
        .connections = {.open = 12, .heads_refused = 13, .bodies_withheld = 15, .send_timeouts = 17},
        .access_log_dropped = 16,
        .jwks = jwks,
        .num_jwks = 1,
    };
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    char *page = render(&in, &pool);
    assert_no_line_starting(page, "policy_sidecar_tenant_requests_total"); /* metrics.per_tenant off */
    assert_line(page, "policy_sidecar_tenant_cache_hits_total 5");
    assert_line(page, "policy_sidecar_tenant_cache_misses_total 6");
    assert_line(page, "policy_sidecar_tenant_cache_malformed_invalidations_total 1");
    assert_line(page, "policy_sidecar_redis_connects_total 2");
    assert_line(page, "policy_sidecar_redis_timeouts_total 3");
    assert_line(page, "policy_sidecar_ratelimit_fallbacks_total 8");
    assert_line(page, "policy_sidecar_inflight_requests 9");
    assert_line(page, "policy_sidecar_ready 1");
    assert_line(page, "policy_sidecar_config_reloads_total{result=\"success\"} 10");
    assert_line(page, "policy_sidecar_config_reloads_total{result=\"failure\"} 11");
    assert_line(page, "policy_sidecar_connections 12");
    assert_line(page, "policy_sidecar_request_heads_refused_total 13");
    assert_line(page, "policy_sidecar_bodies_withheld_total 15");
    assert_line(page, "policy_sidecar_client_send_timeouts_total 17");
    assert_line(page, "policy_sidecar_access_log_dropped_total 16");
    /* the issuer is a label value: its quotes are escaped */
    assert_line(page, "policy_sidecar_jwks_refreshes_total{issuer=\"https://idp.example/\\\"x\\\"\",result=\"success\"} 4");
    assert_line(page, "policy_sidecar_jwks_keys{issuer=\"https://idp.example/\\\"x\\\"\"} 2");
    h2o_mem_clear_pool(&pool);
    sc_metrics_dispose(&sum);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workers_are_summed),
        cmocka_unit_test(test_process_figures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
