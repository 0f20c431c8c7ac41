/* The rate-limit step (ratelimit.c): which limit applies (the tenant's override or the policy's),
 * and who decides: the process in local mode; Redis in redis mode, and the local limits while
 * Redis cannot answer (counted, never unlimited), until it answers again.
 *
 * Redis is replaced at link level: this file defines sc_ratelimit_redis_decide,
 * and sc_ratelimit_lease_decide/_wait/_count_alone, so the linker takes them instead of
 * ratelimit_redis.c's and ratelimit_lease.c's (a second
 * definition would fail the link, not pass silently). The stubs record the call and let each
 * test answer it, fail it, or refuse it as "not connected". By default the lease cannot be had
 * (as when its queue is full), so that the per-request script decides; the lease tests say
 * otherwise. The request and its environment (request_env.h) are the few fields ratelimit.c
 * reads, on the stack. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "denials.h"
#include "ratelimit.h"
#include "ratelimit_lease.h"
#include "ratelimit_redis.h"
#include "request_env.h"
#include "tenant_store.h"

/* ------------------------------------------------------------------ the Redis side, stubbed */

static struct {
    int connected; /* 0: sc_ratelimit_redis_decide answers -1, as when the client is not ready */
    int calls;
    char rate_key[256], quota_key[256]; /* "" for no quota key */
    sc_gcra_limit_t limit;
    uint64_t quota;
    sc_ratelimit_redis_cb cb;
    void *data;
} redis;

int sc_ratelimit_redis_decide(sc_redis_cluster_t *client, const char *rate_key, const char *quota_key, sc_gcra_limit_t limit,
                              uint64_t quota, sc_ratelimit_redis_cb cb, void *data)
{
    assert_non_null(client);
    if (!redis.connected)
        return -1;
    ++redis.calls;
    snprintf(redis.rate_key, sizeof(redis.rate_key), "%s", rate_key);
    snprintf(redis.quota_key, sizeof(redis.quota_key), "%s", quota_key != NULL ? quota_key : "");
    redis.limit = limit;
    redis.quota = quota;
    redis.cb = cb;
    redis.data = data;
    return 0;
}

static struct {
    int mode; /* 0: no lease (decide 0, wait -1); 1: the lease decides at once; 2: the request waits */
    sc_limit_decision_t decision;
    char rate_key[256], holders_key[256], quota_key[256];
    uint64_t day;
    sc_ratelimit_lease_cb cb;
    void *data;
    int alone; /* per-request script calls counted */
} lease;

void sc_ratelimit_lease_count_alone(sc_ratelimit_lease_table_t *table)
{
    ++lease.alone;
}

static void note_lease_key(const sc_ratelimit_lease_key_t *key)
{
    snprintf(lease.rate_key, sizeof(lease.rate_key), "%s", key->rate_key);
    snprintf(lease.holders_key, sizeof(lease.holders_key), "%s", key->holders_key);
    snprintf(lease.quota_key, sizeof(lease.quota_key), "%s", key->quota_key != NULL ? key->quota_key : "");
    lease.day = key->day;
}

int sc_ratelimit_lease_decide(sc_ratelimit_lease_table_t *table, const sc_ratelimit_lease_key_t *key, uint64_t now_ns,
                              sc_limit_decision_t *decision)
{
    note_lease_key(key);
    if (lease.mode != 1)
        return 0;
    *decision = lease.decision;
    return 1;
}

int sc_ratelimit_lease_wait(sc_ratelimit_lease_table_t *table, sc_redis_cluster_t *client, const sc_ratelimit_lease_key_t *key,
                            uint64_t now_ns, sc_ratelimit_lease_cb cb, void *data)
{
    assert_non_null(client);
    if (lease.mode != 2)
        return -1;
    lease.cb = cb;
    lease.data = data;
    return 0;
}

/* Redis answers the pending call (decision NULL: it failed with `err`). */
static void redis_answers(const sc_limit_decision_t *decision, const char *err)
{
    assert_non_null(redis.cb);
    sc_ratelimit_redis_cb cb = redis.cb;
    redis.cb = NULL;
    cb(redis.data, decision, err);
}

/* ------------------------------------------------------------------ a request */

static int store_placeholder;
static sc_redis_config_t redis_config = {.prefix = "ps:"};
static sc_config_t config = {.redis = &redis_config};
static uint64_t ratelimit_fallbacks;
static int ratelimit_degraded;
static sc_request_env_t env = {.start_config = &config,
                               .store = (sc_tenant_store_t *)&store_placeholder,
                               .redis = (sc_redis_cluster_t *)&store_placeholder, /* never read: the stubs take it */
                               .ratelimit_fallbacks = &ratelimit_fallbacks,
                               .ratelimit_degraded = &ratelimit_degraded};

typedef struct test_request {
    sc_policy_t policy;
    sc_service_t service;
    sc_tenant_record_t tenant;
    sc_cached_t cached;
    h2o_req_t req;
    sc_request_t r;
} test_request_t;

static int resumed;
static void on_resume(sc_request_t *r)
{
    ++resumed;
}

static void new_request(test_request_t *t, sc_ratelimit_mode_t mode, uint64_t rate, uint64_t burst, const char *tenant,
                        const char *service)
{
    memset(t, 0, sizeof(*t));
    t->policy.rate_limit = (sc_ratelimit_policy_t){.mode = mode, .rate = rate, .burst = burst};
    t->service = (sc_service_t){.name = (char *)service, .policy = &t->policy};
    t->tenant = (sc_tenant_record_t){.id = (char *)tenant, .active = 1};
    t->cached.record = &t->tenant;
    h2o_mem_init_pool(&t->req.pool);
    t->req.processed_at.at = (struct timeval){1795852800, 0}; /* 2026-11-28 */
    t->r.req = &t->req;
    t->r.env = &env;
    t->r.service = &t->service;
    t->r.tenant = h2o_iovec_init(tenant, strlen(tenant));
    t->r.tenant_lookup.cached = &t->cached;
}

static void end_request(test_request_t *t)
{
    h2o_mem_clear_pool(&t->req.pool);
}

static int setup(void **state)
{
    (void)state;
    memset(&redis, 0, sizeof(redis));
    memset(&lease, 0, sizeof(lease));
    resumed = 0;
    ratelimit_fallbacks = 0;
    ratelimit_degraded = 0;
    return (env.local_limits = sc_ratelimit_local_create(1024)) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    sc_ratelimit_local_destroy(env.local_limits);
    env.local_limits = NULL;
    return 0;
}

/* One request decided to the end (local mode, or redis mode answered by `decision`). */
static sc_ratelimit_verdict_t decide(sc_ratelimit_mode_t mode, uint64_t rate, uint64_t burst, const char *tenant,
                                     const char *service)
{
    test_request_t t;
    new_request(&t, mode, rate, burst, tenant, service);
    sc_ratelimit_verdict_t v = sc_ratelimit_check(&t.r, on_resume);
    end_request(&t);
    return v;
}

/* ------------------------------------------------------------------ which limit */

static void test_the_limit_that_applies(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        sc_ratelimit_mode_t mode;
        uint64_t policy_rate, policy_burst, tenant_rate, tenant_burst, tenant_quota;
        int applied;
        uint64_t rate, burst, quota;
    } rows[] = {
        {"no rate_limit, no tenant override: not limited", SC_RATELIMIT_OFF, 0, 0, 0, 0, 0, 0, 0, 0, 0},
        {"the policy's limit", SC_RATELIMIT_LOCAL, 5, 10, 0, 0, 0, 1, 5, 10, 0},
        {"the tenant's rate; its burst defaults to its rate", SC_RATELIMIT_LOCAL, 5, 10, 7, 0, 0, 1, 7, 7, 0},
        {"the tenant's rate and burst", SC_RATELIMIT_LOCAL, 5, 10, 7, 20, 0, 1, 7, 20, 0},
        {"the tenant's burst alone: over the policy's rate", SC_RATELIMIT_LOCAL, 5, 10, 0, 20, 0, 1, 5, 20, 0},
        {"a tenant rate without a rate_limit section", SC_RATELIMIT_OFF, 0, 0, 3, 0, 0, 1, 3, 3, 0},
        {"a quota alone: limited by the quota only", SC_RATELIMIT_OFF, 0, 0, 0, 0, 100, 1, SC_GCRA_MAX_RATE, SC_GCRA_MAX_BURST,
         100},
        {"a quota with the policy's rate", SC_RATELIMIT_LOCAL, 5, 10, 0, 0, 100, 1, 5, 10, 100},
        {"a rate and burst past the maximum: clamped", SC_RATELIMIT_LOCAL, 5, 10, SC_GCRA_MAX_RATE + 1, SC_GCRA_MAX_BURST + 1, 0, 1,
         SC_GCRA_MAX_RATE, SC_GCRA_MAX_BURST, 0},
    };
    for (size_t i = 0; i != sizeof(rows) / sizeof(rows[0]); ++i) {
        test_request_t t;
        char tenant[32];
        snprintf(tenant, sizeof(tenant), "limit-%zu", i); /* a fresh budget per row */
        new_request(&t, rows[i].mode, rows[i].policy_rate, rows[i].policy_burst, tenant, "a");
        t.tenant.rate = rows[i].tenant_rate;
        t.tenant.burst = rows[i].tenant_burst;
        t.tenant.quota_daily = rows[i].tenant_quota;
        sc_ratelimit_verdict_t v = sc_ratelimit_check(&t.r, on_resume);
        if (v != SC_RATELIMIT_PASS || t.r.ratelimit.applied != rows[i].applied ||
            (rows[i].applied && (t.r.ratelimit.limit.rate != rows[i].rate || t.r.ratelimit.limit.burst != rows[i].burst ||
                                 t.r.ratelimit.quota != rows[i].quota)))
            fail_msg("%s: verdict %d, applied %d, rate %llu, burst %llu, quota %llu", rows[i].name, (int)v, t.r.ratelimit.applied,
                     (unsigned long long)t.r.ratelimit.limit.rate, (unsigned long long)t.r.ratelimit.limit.burst,
                     (unsigned long long)t.r.ratelimit.quota);
        end_request(&t);
    }
    assert_int_equal(redis.calls, 0);
}

/* ------------------------------------------------------------------ local mode */

static void test_local_mode_decides_in_process(void **state)
{
    (void)state;
    redis.connected = 1; /* available, and still not asked */
    assert_int_equal(decide(SC_RATELIMIT_LOCAL, 1, 2, "acme", "a"), SC_RATELIMIT_PASS);
    assert_int_equal(decide(SC_RATELIMIT_LOCAL, 1, 2, "acme", "a"), SC_RATELIMIT_PASS);
    assert_int_equal(decide(SC_RATELIMIT_LOCAL, 1, 2, "acme", "a"), SC_RATELIMIT_REFUSED);
    assert_int_equal(decide(SC_RATELIMIT_LOCAL, 1, 2, "acme", "b"), SC_RATELIMIT_REFUSED); /* one budget per tenant */
    assert_int_equal(decide(SC_RATELIMIT_LOCAL, 1, 2, "globex", "a"), SC_RATELIMIT_PASS);  /* not another tenant's */
    assert_int_equal(redis.calls, 0);
    assert_int_equal(resumed, 0);
    assert_int_equal(ratelimit_fallbacks, 0);
    assert_int_equal(sc_ratelimit_local_size(env.local_limits), 2);
}

static void test_local_mode_per_service(void **state)
{
    (void)state;
    for (int n = 0; n != 2; ++n) {
        test_request_t t;
        new_request(&t, SC_RATELIMIT_LOCAL, 1, 1, "acme", n == 0 ? "a" : "b");
        t.policy.rate_limit.per_service = 1;
        assert_int_equal(sc_ratelimit_check(&t.r, on_resume), SC_RATELIMIT_PASS); /* a budget per service */
        assert_int_equal(sc_ratelimit_check(&t.r, on_resume), SC_RATELIMIT_REFUSED);
        end_request(&t);
    }
    assert_int_equal(sc_ratelimit_local_size(env.local_limits), 2);
}

static void test_refusals_name_rate_or_quota(void **state)
{
    (void)state;
    test_request_t t;
    new_request(&t, SC_RATELIMIT_LOCAL, 100, 100, "acme", "a");
    t.tenant.quota_daily = 1;
    assert_int_equal(sc_ratelimit_check(&t.r, on_resume), SC_RATELIMIT_PASS);
    assert_int_equal(sc_ratelimit_check(&t.r, on_resume), SC_RATELIMIT_REFUSED);
    assert_true(t.r.ratelimit.decision.quota_exhausted);
    assert_ptr_equal(sc_ratelimit_denial(&t.r), &sc_deny_quota_exceeded);
    end_request(&t);

    new_request(&t, SC_RATELIMIT_LOCAL, 1, 1, "globex", "a");
    assert_int_equal(sc_ratelimit_check(&t.r, on_resume), SC_RATELIMIT_PASS);
    assert_int_equal(sc_ratelimit_check(&t.r, on_resume), SC_RATELIMIT_REFUSED);
    assert_false(t.r.ratelimit.decision.quota_exhausted);
    assert_ptr_equal(sc_ratelimit_denial(&t.r), &sc_deny_rate_limited);
    end_request(&t);
}

/* ------------------------------------------------------------------ redis mode */

static void test_redis_mode_asks_redis(void **state)
{
    (void)state;
    test_request_t t;
    redis.connected = 1;
    new_request(&t, SC_RATELIMIT_REDIS, 5, 10, "acme", "a");
    t.tenant.quota_daily = 1000;
    assert_int_equal(sc_ratelimit_check(&t.r, on_resume), SC_RATELIMIT_WAIT);
    assert_int_equal(redis.calls, 1);
    assert_int_equal(lease.alone, 1); /* counted among the rate limiter's Redis commands */
    assert_string_equal(redis.rate_key, "ps:{acme}:rl");
    assert_string_equal(redis.quota_key, "ps:{acme}:quota:20261128"); /* the request's UTC day */
    assert_int_equal(redis.limit.rate, 5);
    assert_int_equal(redis.limit.burst, 10);
    assert_int_equal(redis.quota, 1000);
    assert_int_equal(resumed, 0);

    sc_limit_decision_t refused = {.gcra = {.allowed = 0, .retry_after_ns = 200000000}, .quota_exhausted = 0};
    redis_answers(&refused, NULL);
    assert_int_equal(resumed, 1);
    assert_false(t.r.ratelimit.decision.gcra.allowed);
    assert_int_equal(t.r.ratelimit.decision.gcra.retry_after_ns, 200000000);
    assert_int_equal(ratelimit_fallbacks, 0);
    assert_int_equal(sc_ratelimit_local_size(env.local_limits), 0); /* the process did not decide */
    end_request(&t);

    /* without a quota, no quota key; per service, the service in the rate key */
    new_request(&t, SC_RATELIMIT_REDIS, 5, 10, "acme", "rag");
    t.policy.rate_limit.per_service = 1;
    assert_int_equal(sc_ratelimit_check(&t.r, on_resume), SC_RATELIMIT_WAIT);
    assert_string_equal(redis.quota_key, "");
    assert_string_equal(redis.rate_key, "ps:{acme}:rl:rag");
    sc_limit_decision_t allowed = {.gcra = {.allowed = 1}};
    redis_answers(&allowed, NULL);
    assert_int_equal(resumed, 2);
    assert_true(t.r.ratelimit.decision.gcra.allowed);
    end_request(&t);
}

/* Not connected: the local limits decide at once, counted; the budget is still enforced. */
static void test_redis_not_connected_falls_back_to_local(void **state)
{
    (void)state;
    redis.connected = 0;
    assert_int_equal(decide(SC_RATELIMIT_REDIS, 1, 2, "acme", "a"), SC_RATELIMIT_PASS);
    assert_int_equal(ratelimit_degraded, 1);
    assert_int_equal(decide(SC_RATELIMIT_REDIS, 1, 2, "acme", "a"), SC_RATELIMIT_PASS);
    assert_int_equal(decide(SC_RATELIMIT_REDIS, 1, 2, "acme", "a"), SC_RATELIMIT_REFUSED); /* never unlimited */
    assert_int_equal(ratelimit_fallbacks, 3);
    assert_int_equal(resumed, 0); /* decided synchronously */
    assert_int_equal(redis.calls, 0);
    assert_int_equal(sc_ratelimit_local_size(env.local_limits), 1);
}

/* Redis fails (timeout, error reply): the waiting request is decided locally and resumed; the
 * next answer from Redis ends the degraded state. */
static void test_redis_failure_falls_back_then_recovers(void **state)
{
    (void)state;
    test_request_t t;
    redis.connected = 1;
    for (int i = 0; i != 3; ++i) {
        new_request(&t, SC_RATELIMIT_REDIS, 1, 2, "acme", "a");
        assert_int_equal(sc_ratelimit_check(&t.r, on_resume), SC_RATELIMIT_WAIT);
        redis_answers(NULL, "timeout");
        assert_int_equal(resumed, i + 1);
        assert_int_equal(t.r.ratelimit.decision.gcra.allowed, i < 2); /* the local budget: 2 at once */
        end_request(&t);
    }
    assert_int_equal(ratelimit_fallbacks, 3);
    assert_int_equal(ratelimit_degraded, 1);

    new_request(&t, SC_RATELIMIT_REDIS, 1, 2, "acme", "a");
    assert_int_equal(sc_ratelimit_check(&t.r, on_resume), SC_RATELIMIT_WAIT);
    sc_limit_decision_t allowed = {.gcra = {.allowed = 1}};
    redis_answers(&allowed, NULL); /* Redis decides again, whatever the local budget says */
    assert_int_equal(resumed, 4);
    assert_true(t.r.ratelimit.decision.gcra.allowed);
    assert_int_equal(ratelimit_degraded, 0);
    assert_int_equal(ratelimit_fallbacks, 3);
    end_request(&t);
}

/* A request that ended while Redis was deciding is not resumed (its pool is gone). */
static void test_request_gone_before_redis_answers(void **state)
{
    (void)state;
    test_request_t t;
    redis.connected = 1;
    new_request(&t, SC_RATELIMIT_REDIS, 1, 2, "acme", "a");
    assert_int_equal(sc_ratelimit_check(&t.r, on_resume), SC_RATELIMIT_WAIT);
    end_request(&t);
    sc_limit_decision_t allowed = {.gcra = {.allowed = 1}};
    redis_answers(&allowed, NULL);
    assert_int_equal(resumed, 0);

    new_request(&t, SC_RATELIMIT_REDIS, 1, 2, "acme", "a"); /* nor decided locally on a failure */
    assert_int_equal(sc_ratelimit_check(&t.r, on_resume), SC_RATELIMIT_WAIT);
    end_request(&t);
    redis_answers(NULL, "timeout");
    assert_int_equal(resumed, 0);
    assert_int_equal(ratelimit_fallbacks, 0);
}

/* ------------------------------------------------------------------ leases */

/* A token in the worker's lease: decided at once, Redis not asked; the keys carry the tenant's hash tag. */
static void test_a_lease_decides_without_redis(void **state)
{
    (void)state;
    test_request_t t;
    redis.connected = 1;
    lease.mode = 1;
    lease.decision = (sc_limit_decision_t){.gcra = {.allowed = 1, .remaining = 7}};
    new_request(&t, SC_RATELIMIT_REDIS, 5, 10, "acme", "rag");
    t.policy.rate_limit.per_service = 1;
    t.tenant.quota_daily = 1000;
    assert_int_equal(sc_ratelimit_check(&t.r, on_resume), SC_RATELIMIT_PASS);
    assert_int_equal(t.r.ratelimit.decision.gcra.remaining, 7);
    assert_string_equal(lease.rate_key, "ps:{acme}:rl:rag");
    assert_string_equal(lease.holders_key, "ps:{acme}:lh:rag");
    assert_string_equal(lease.quota_key, "ps:{acme}:quota:20261128");
    assert_int_equal(lease.day, 1795852800 / 86400);
    lease.decision = (sc_limit_decision_t){.gcra = {.allowed = 0, .retry_after_ns = 1}};
    assert_int_equal(sc_ratelimit_check(&t.r, on_resume), SC_RATELIMIT_REFUSED);
    end_request(&t);
    assert_int_equal(redis.calls, 0);
    assert_int_equal(resumed, 0);
}

/* An empty lease: the request waits for the acquire, and is resumed with its decision, or with
 * the local limits' when Redis failed; a request gone meanwhile tells the lease so. */
static void test_waiting_on_a_lease(void **state)
{
    (void)state;
    test_request_t t;
    redis.connected = 1;
    lease.mode = 2;
    new_request(&t, SC_RATELIMIT_REDIS, 1, 2, "acme", "a");
    assert_int_equal(sc_ratelimit_check(&t.r, on_resume), SC_RATELIMIT_WAIT);
    sc_limit_decision_t refused = {.gcra = {.allowed = 0, .retry_after_ns = 300000000}};
    assert_int_equal(lease.cb(lease.data, &refused, NULL), 1);
    assert_int_equal(resumed, 1);
    assert_false(t.r.ratelimit.decision.gcra.allowed);
    end_request(&t);

    new_request(&t, SC_RATELIMIT_REDIS, 1, 2, "acme", "a");
    assert_int_equal(sc_ratelimit_check(&t.r, on_resume), SC_RATELIMIT_WAIT);
    assert_int_equal(lease.cb(lease.data, NULL, "timeout"), 1);
    assert_int_equal(resumed, 2);
    assert_true(t.r.ratelimit.decision.gcra.allowed); /* the local budget */
    assert_int_equal(ratelimit_fallbacks, 1);
    end_request(&t);

    new_request(&t, SC_RATELIMIT_REDIS, 1, 2, "acme", "a");
    assert_int_equal(sc_ratelimit_check(&t.r, on_resume), SC_RATELIMIT_WAIT);
    end_request(&t);
    sc_limit_decision_t allowed = {.gcra = {.allowed = 1}};
    assert_int_equal(lease.cb(lease.data, &allowed, NULL), 0); /* gone: the token goes back */
    assert_int_equal(resumed, 2);
    assert_int_equal(redis.calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_the_limit_that_applies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_mode_decides_in_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_mode_per_service, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals_name_rate_or_quota, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_mode_asks_redis, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_not_connected_falls_back_to_local, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_failure_falls_back_then_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_gone_before_redis_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_lease_decides_without_redis, setup, teardown),
        cmocka_unit_test_setup_teardown(test_waiting_on_a_lease, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
