/* The rate limiter's arithmetic against a fake clock, and its policy settings (the local table: test_ratelimit_local.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "gcra.h"
#include "policy_load.h"

#define S 1000000000ULL
#define MS 1000000ULL

/* Sends `n` requests at `now`; returns how many pass. */
static unsigned burst_at(uint64_t *tat, uint64_t now, sc_gcra_limit_t limit, unsigned n)
{
    unsigned passed = 0;
    for (unsigned i = 0; i != n; ++i) {
        sc_gcra_result_t r = sc_gcra_decide(*tat, now, limit, tat);
        passed += r.allowed;
    }
    return passed;
}

static void test_burst_then_steady_rate(void **state)
{
    (void)state;
    sc_gcra_limit_t limit = {50, 10};
    uint64_t tat = 0, t0 = 1000 * S;
    assert_int_equal(burst_at(&tat, t0, limit, 100), 10); /* the burst, at once */
    /* then one every 20 ms: over 2 s of constant demand, exactly 100 more */
    unsigned passed = 0;
    for (uint64_t t = t0 + MS; t <= t0 + 2 * S; t += MS)
        passed += burst_at(&tat, t, limit, 5);
    assert_int_equal(passed, 100);
}

static void test_refused_requests_consume_nothing(void **state)
{
    (void)state;
    sc_gcra_limit_t limit = {10, 1};
    uint64_t tat = 0, t0 = 5 * S, next;
    assert_true(sc_gcra_decide(tat, t0, limit, &tat).allowed);
    for (int i = 0; i != 1000; ++i) { /* hammering while empty... */
        sc_gcra_result_t r = sc_gcra_decide(tat, t0 + 1, limit, &next);
        assert_false(r.allowed);
        assert_int_equal(next, tat);
    }
    /* ...does not push the next admission later than one interval */
    assert_true(sc_gcra_decide(tat, t0 + 100 * MS, limit, &tat).allowed);
}

static void test_retry_after_is_exact(void **state)
{
    (void)state;
    sc_gcra_limit_t limit = {2, 1};
    uint64_t tat = 0, t0 = 7 * S, next;
    assert_true(sc_gcra_decide(tat, t0, limit, &tat).allowed);
    sc_gcra_result_t r = sc_gcra_decide(tat, t0 + 100 * MS, limit, &next);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after_ns, 400 * MS);
    /* one nanosecond early: still refused; on time: admitted */
    assert_false(sc_gcra_decide(tat, t0 + 500 * MS - 1, limit, &next).allowed);
    assert_true(sc_gcra_decide(tat, t0 + 500 * MS, limit, &next).allowed);
}

static void test_recovery_after_idle(void **state)
{
    (void)state;
    sc_gcra_limit_t limit = {5, 5};
    uint64_t tat = 0, t0 = 3 * S;
    assert_int_equal(burst_at(&tat, t0, limit, 20), 5);
    /* half-refilled after 0.5 s... */
    assert_int_equal(burst_at(&tat, t0 + S / 2 + 1, limit, 20), 2);
    /* ...and full again (never more than burst) after a long idle */
    assert_int_equal(burst_at(&tat, t0 + 3600 * S, limit, 20), 5);
}

static void test_remaining_counts_down(void **state)
{
    (void)state;
    sc_gcra_limit_t limit = {100, 3};
    uint64_t tat = 0, now = S;
    assert_int_equal(sc_gcra_decide(tat, now, limit, &tat).remaining, 2);
    assert_int_equal(sc_gcra_decide(tat, now, limit, &tat).remaining, 1);
    assert_int_equal(sc_gcra_decide(tat, now, limit, &tat).remaining, 0);
    assert_false(sc_gcra_decide(tat, now, limit, &tat).allowed);
}

static void test_no_drift_or_overflow_at_extremes(void **state)
{
    (void)state;
    /* 100 years of uptime on the monotonic clock, at the largest rate and burst */
    uint64_t far = 100ULL * 365 * 24 * 3600 * S, tat = 0;
    sc_gcra_limit_t max = {SC_GCRA_MAX_RATE, SC_GCRA_MAX_BURST};
    assert_int_equal(burst_at(&tat, far, max, 1000), 1000);
    /* a rate that does not divide a second: 3/s for an hour admits 3 x 3600 + burst, not one more
       (burst 2 absorbs the 10 ms sampling of this loop, so only the arithmetic is measured) */
    sc_gcra_limit_t three = {3, 2};
    unsigned passed = 0;
    tat = 0;
    for (uint64_t t = far; t < far + 3600 * S; t += 10 * MS)
        passed += burst_at(&tat, t, three, 1);
    assert_in_range(passed, 3 * 3600, 3 * 3600 + 2);
}

static void test_config_refuses_zero_and_huge_rates(void **state)
{
    (void)state;
    static const struct {
        const char *yaml, *expected;
    } cases[] = {
        {"rate_limit: {rate: 0}\nroutes: [{path: /x, auth: none}]\n", "p.yaml:1: rate_limit.rate: 0 is out of range"},
        {"rate_limit: {rate: 10000000}\nroutes: [{path: /x, auth: none}]\n", "p.yaml:1: rate_limit.rate: 10000000 is out of range"},
        {"rate_limit: {rate: 5, burst: 0}\nroutes: [{path: /x, auth: none}]\n", "p.yaml:1: rate_limit.burst: 0 is out of range"},
        {"rate_limit: {rate: -5}\nroutes: [{path: /x, auth: none}]\n", "p.yaml:1: rate_limit.rate: \"-5\" is not a whole number"},
        {"rate_limit: {burst: 5}\nroutes: [{path: /x, auth: none}]\n", "p.yaml:1: rate_limit.rate: is required"},
        {"rate_limit: {rate: 5, mode: cluster}\nroutes: [{path: /x, auth: none}]\n", "p.yaml:1: rate_limit.mode: unknown mode"},
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        char err[512] = "";
        sc_policy_t *p = sc_policy_load_string(cases[i].yaml, strlen(cases[i].yaml), "p.yaml", err, sizeof(err));
        if (p != NULL || strstr(err, cases[i].expected) == NULL) {
            print_error("case %zu: expected \"%s\", got \"%s\"\n", i, cases[i].expected, p != NULL ? "(loaded)" : err);
            sc_policy_free(p);
            fail();
        }
    }
    const char *ok = "rate_limit: {rate: 50, mode: redis, per_service: true}\nroutes: [{path: /x, auth: none}]\n";
    char err[512];
    sc_policy_t *p = sc_policy_load_string(ok, strlen(ok), "p.yaml", err, sizeof(err));
    assert_non_null(p);
    assert_int_equal(p->rate_limit.rate, 50);
    assert_int_equal(p->rate_limit.burst, 50); /* defaults to one second's worth */
    assert_int_equal(p->rate_limit.mode, SC_RATELIMIT_REDIS);
    assert_true(p->rate_limit.per_service);
    sc_policy_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_steady_rate),
        cmocka_unit_test(test_refused_requests_consume_nothing),
        cmocka_unit_test(test_retry_after_is_exact),
        cmocka_unit_test(test_recovery_after_idle),
        cmocka_unit_test(test_remaining_counts_down),
        cmocka_unit_test(test_no_drift_or_overflow_at_extremes),
        cmocka_unit_test(test_config_refuses_zero_and_huge_rates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
