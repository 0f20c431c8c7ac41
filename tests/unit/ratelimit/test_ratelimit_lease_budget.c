/* A lease's arithmetic against a fake clock: sizing, spending, refusing, giving back (the table
 * and Redis: tests/integration/test_ratelimit_lease.py). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "ratelimit_lease_budget.h"

#define S 1000000000ULL
#define MS 1000000ULL
#define T0 (1000 * S)

static sc_ratelimit_lease_grant_t grant_of(uint64_t granted, uint64_t remaining)
{
    sc_ratelimit_lease_grant_t g = {granted, remaining, 0, 200 * MS, 1, 0, 0};
    return g;
}

static void test_cap_is_a_share_of_burst_and_rate_per_holder(void **state)
{
    (void)state;
    assert_int_equal(sc_ratelimit_lease_budget_cap((sc_gcra_limit_t){50, 10}, 1), 5);   /* half the burst */
    assert_int_equal(sc_ratelimit_lease_budget_cap((sc_gcra_limit_t){50, 100}, 1), 12); /* a period of rate */
    assert_int_equal(sc_ratelimit_lease_budget_cap((sc_gcra_limit_t){50, 10}, 4), 1);   /* never below one */
    assert_int_equal(sc_ratelimit_lease_budget_cap((sc_gcra_limit_t){1000, 1000}, 2), 125);
    assert_int_equal(sc_ratelimit_lease_budget_cap((sc_gcra_limit_t){1000000, 1000000}, 1), 250000);
    assert_int_equal(sc_ratelimit_lease_budget_cap((sc_gcra_limit_t){1000000, 1000000}, 0), 250000); /* 0 holders: 1 */
    /* whatever K, what all holders may keep is at most half the burst */
    for (uint64_t k = 1; k != 50; ++k)
        assert_true(k * sc_ratelimit_lease_budget_cap((sc_gcra_limit_t){1000, 400}, k) <= 200);
}

static void test_want_follows_demand_within_the_cap(void **state)
{
    (void)state;
    sc_ratelimit_lease_budget_t b;
    sc_limit_decision_t d;
    sc_ratelimit_lease_budget_init(&b, (sc_gcra_limit_t){1000, 1000}, 0, 1);
    assert_int_equal(sc_ratelimit_lease_budget_want(&b, T0, 1), 1); /* no demand known yet */
    sc_ratelimit_lease_grant_t g = grant_of(1, 999);
    sc_ratelimit_lease_budget_granted(&b, &g, T0);
    assert_int_equal(sc_ratelimit_lease_budget_spend(&b, T0, &d), SC_RATELIMIT_LEASE_SPENT);
    /* one token in 25 ms: 40/s, 10 a period */
    assert_int_equal(sc_ratelimit_lease_budget_want(&b, T0 + 25 * MS, 1), 10);
    /* 10 tokens in 1 ms: 2500 a period, capped at min(500, 250) */
    g = grant_of(10, 980);
    sc_ratelimit_lease_budget_granted(&b, &g, T0 + 25 * MS);
    for (int i = 0; i != 10; ++i)
        assert_int_equal(sc_ratelimit_lease_budget_spend(&b, T0 + 26 * MS, &d), SC_RATELIMIT_LEASE_SPENT);
    assert_int_equal(sc_ratelimit_lease_budget_want(&b, T0 + 26 * MS, 1), 250);
    /* more holders, smaller leases */
    g = grant_of(0, 980);
    g.holders = 5;
    sc_ratelimit_lease_budget_granted(&b, &g, T0 + 27 * MS);
    b.spent_since_acquire = 10;
    assert_int_equal(sc_ratelimit_lease_budget_want(&b, T0 + 28 * MS, 1), 50);
    /* requests already waiting are never asked for short */
    b.spent_since_acquire = 10;
    assert_int_equal(sc_ratelimit_lease_budget_want(&b, T0 + 29 * MS, 80), 80);
}

static void test_spend_counts_down_then_asks_again(void **state)
{
    (void)state;
    sc_ratelimit_lease_budget_t b;
    sc_limit_decision_t d;
    sc_ratelimit_lease_budget_init(&b, (sc_gcra_limit_t){50, 10}, 0, 1);
    assert_int_equal(sc_ratelimit_lease_budget_spend(&b, T0, &d), SC_RATELIMIT_LEASE_EMPTY);
    sc_ratelimit_lease_grant_t g = grant_of(3, 6);
    sc_ratelimit_lease_budget_granted(&b, &g, T0);
    for (uint64_t left = 2;; --left) {
        assert_int_equal(sc_ratelimit_lease_budget_spend(&b, T0 + 50 * MS, &d), SC_RATELIMIT_LEASE_SPENT);
        assert_true(d.gcra.allowed);
        assert_int_equal(d.gcra.remaining, 6 + left); /* the bucket's remainder plus what this lease holds */
        assert_int_equal(d.gcra.reset_ns, 150 * MS);
        if (left == 0)
            break;
    }
    /* empty, and the bucket was not short: ask Redis again rather than refuse */
    assert_int_equal(sc_ratelimit_lease_budget_spend(&b, T0 + 50 * MS, &d), SC_RATELIMIT_LEASE_EMPTY);
}

static void test_a_short_bucket_refuses_locally_until_the_next_token(void **state)
{
    (void)state;
    sc_ratelimit_lease_budget_t b;
    sc_limit_decision_t d;
    sc_ratelimit_lease_budget_init(&b, (sc_gcra_limit_t){50, 10}, 0, 1);
    sc_ratelimit_lease_grant_t g = grant_of(1, 0);
    g.short_of_tokens = 1;
    g.retry_after_ns = 20 * MS;
    sc_ratelimit_lease_budget_granted(&b, &g, T0);
    assert_int_equal(sc_ratelimit_lease_budget_spend(&b, T0, &d), SC_RATELIMIT_LEASE_SPENT); /* what was granted first */
    assert_int_equal(sc_ratelimit_lease_budget_spend(&b, T0 + 5 * MS, &d), SC_RATELIMIT_LEASE_REFUSED);
    assert_false(d.gcra.allowed);
    assert_false(d.quota_exhausted);
    assert_int_equal(d.gcra.retry_after_ns, 15 * MS);
    assert_int_equal(sc_ratelimit_lease_budget_spend(&b, T0 + 20 * MS, &d), SC_RATELIMIT_LEASE_EMPTY); /* due: ask */
    /* a long wait is remembered for one period only, and reported whole */
    g = grant_of(0, 0);
    g.short_of_tokens = 1;
    g.retry_after_ns = 2 * S;
    sc_ratelimit_lease_budget_granted(&b, &g, T0 + S);
    assert_int_equal(sc_ratelimit_lease_budget_spend(&b, T0 + S + 100 * MS, &d), SC_RATELIMIT_LEASE_REFUSED);
    assert_int_equal(d.gcra.retry_after_ns, 2 * S - 100 * MS);
    assert_int_equal(sc_ratelimit_lease_budget_spend(&b, T0 + S + SC_RATELIMIT_LEASE_PERIOD_NS, &d), SC_RATELIMIT_LEASE_EMPTY);
}

/* A reply that lands late (a busy loop) does not push the refusal later: Redis's clock read the
 * bucket between the send and the reply, so the durations count from the send. */
static void test_durations_count_from_the_acquire(void **state)
{
    (void)state;
    sc_ratelimit_lease_budget_t b;
    sc_limit_decision_t d;
    sc_ratelimit_lease_budget_init(&b, (sc_gcra_limit_t){50, 10}, 0, 1);
    assert_int_equal(sc_ratelimit_lease_budget_want(&b, T0, 1), 1);
    sc_ratelimit_lease_grant_t g = grant_of(0, 0);
    g.short_of_tokens = 1;
    g.retry_after_ns = 20 * MS;
    sc_ratelimit_lease_budget_granted(&b, &g, T0 + 15 * MS); /* 15 ms after the send */
    assert_int_equal(sc_ratelimit_lease_budget_spend(&b, T0 + 15 * MS, &d), SC_RATELIMIT_LEASE_REFUSED);
    assert_int_equal(d.gcra.retry_after_ns, 5 * MS);
    assert_int_equal(sc_ratelimit_lease_budget_spend(&b, T0 + 20 * MS, &d), SC_RATELIMIT_LEASE_EMPTY);
}

static void test_an_exhausted_quota_refuses_as_the_quota(void **state)
{
    (void)state;
    sc_ratelimit_lease_budget_t b;
    sc_limit_decision_t d;
    sc_ratelimit_lease_budget_init(&b, (sc_gcra_limit_t){1000, 1000}, 3, 1);
    sc_ratelimit_lease_grant_t g = grant_of(0, 999);
    g.short_of_tokens = g.quota_exhausted = 1;
    sc_ratelimit_lease_budget_granted(&b, &g, T0);
    assert_int_equal(sc_ratelimit_lease_budget_spend(&b, T0, &d), SC_RATELIMIT_LEASE_REFUSED);
    assert_true(d.quota_exhausted);
}

static void test_rebalance_gives_back_what_the_period_did_not_need(void **state)
{
    (void)state;
    sc_ratelimit_lease_budget_t b;
    sc_limit_decision_t d;
    sc_ratelimit_lease_budget_init(&b, (sc_gcra_limit_t){1000, 1000}, 0, 1);
    sc_ratelimit_lease_grant_t g = grant_of(10, 900);
    sc_ratelimit_lease_budget_granted(&b, &g, T0);
    for (int i = 0; i != 4; ++i)
        sc_ratelimit_lease_budget_spend(&b, T0, &d);
    assert_int_equal(sc_ratelimit_lease_budget_rebalance(&b), 2); /* 6 held, 4 needed last period */
    assert_int_equal(b.tokens, 4);
    assert_false(sc_ratelimit_lease_budget_idle(&b, T0));
    assert_int_equal(sc_ratelimit_lease_budget_rebalance(&b), 4); /* an unused period: all of it */
    assert_int_equal(b.tokens, 0);
    assert_true(sc_ratelimit_lease_budget_idle(&b, T0));
    assert_int_equal(sc_ratelimit_lease_budget_rebalance(&b), 0);
}

static void test_a_new_limit_or_day_is_a_new_budget(void **state)
{
    (void)state;
    sc_ratelimit_lease_budget_t b;
    sc_ratelimit_lease_budget_init(&b, (sc_gcra_limit_t){1, 1}, 0, 7);
    assert_true(sc_ratelimit_lease_budget_matches(&b, (sc_gcra_limit_t){1, 1}, 0, 7));
    assert_false(sc_ratelimit_lease_budget_matches(&b, (sc_gcra_limit_t){1000, 1}, 0, 7));
    assert_false(sc_ratelimit_lease_budget_matches(&b, (sc_gcra_limit_t){1, 1000}, 0, 7));
    assert_false(sc_ratelimit_lease_budget_matches(&b, (sc_gcra_limit_t){1, 1}, 5, 7));
    assert_false(sc_ratelimit_lease_budget_matches(&b, (sc_gcra_limit_t){1, 1}, 0, 8));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap_is_a_share_of_burst_and_rate_per_holder),
        cmocka_unit_test(test_want_follows_demand_within_the_cap),
        cmocka_unit_test(test_spend_counts_down_then_asks_again),
        cmocka_unit_test(test_a_short_bucket_refuses_locally_until_the_next_token),
        cmocka_unit_test(test_durations_count_from_the_acquire),
        cmocka_unit_test(test_an_exhausted_quota_refuses_as_the_quota),
        cmocka_unit_test(test_rebalance_gives_back_what_the_period_did_not_need),
        cmocka_unit_test(test_a_new_limit_or_day_is_a_new_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
