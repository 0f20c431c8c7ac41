/*
 * The process-wide local limiter: budgets shared and separated, the daily quota, the bound on
 * the table, and exactness when several worker threads decide for the same keys at once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "ratelimit_local.h"

#define S 1000000000ULL
#define US 1000ULL
#define THREADS 4

static void test_local_table_shares_and_separates(void **state)
{
    (void)state;
    sc_ratelimit_local_t *t = sc_ratelimit_local_create(16);
    sc_gcra_limit_t limit = {1, 2};
    unsigned a = 0, b = 0;
    for (int i = 0; i != 10; ++i) {
        a += sc_ratelimit_local_decide(t, "acme", 4, limit, 0, S, 1).gcra.allowed;
        b += sc_ratelimit_local_decide(t, "globex", 6, limit, 0, S, 1).gcra.allowed;
    }
    assert_int_equal(a, 2); /* tenants are independent */
    assert_int_equal(b, 2);
    sc_ratelimit_local_destroy(t);
}

static void test_daily_quota(void **state)
{
    (void)state;
    sc_ratelimit_local_t *t = sc_ratelimit_local_create(16);
    sc_gcra_limit_t limit = {1000, 1000};
    unsigned passed = 0;
    for (int i = 0; i != 10; ++i)
        passed += sc_ratelimit_local_decide(t, "acme", 4, limit, 3, S + (uint64_t)i * S, 20000).gcra.allowed;
    assert_int_equal(passed, 3);
    sc_limit_decision_t d = sc_ratelimit_local_decide(t, "acme", 4, limit, 3, 20 * S, 20000);
    assert_true(d.quota_exhausted);
    /* a new UTC day, a new quota */
    assert_true(sc_ratelimit_local_decide(t, "acme", 4, limit, 3, 21 * S, 20001).gcra.allowed);
    sc_ratelimit_local_destroy(t);
}

static void test_local_table_stays_bounded(void **state)
{
    (void)state;
    sc_ratelimit_local_t *t = sc_ratelimit_local_create(4);
    sc_gcra_limit_t limit = {1, 1};
    char key[16];
    for (int i = 0; i != 4; ++i) {
        snprintf(key, sizeof(key), "t%d", i);
        assert_true(sc_ratelimit_local_decide(t, key, strlen(key), limit, 0, S, 1).gcra.allowed);
    }
    /* full of limits in force: a fifth tenant is refused, not let through unlimited */
    assert_false(sc_ratelimit_local_decide(t, "t9", 2, limit, 0, S, 1).gcra.allowed);
    /* once those buckets are full again they carry nothing, and make room */
    assert_true(sc_ratelimit_local_decide(t, "t9", 2, limit, 0, 10 * S, 1).gcra.allowed);
    assert_true(sc_ratelimit_local_size(t) <= 4);
    sc_ratelimit_local_destroy(t);
}

/* Runs `fn` on THREADS threads released together, so that their decisions overlap. */
typedef struct hammer {
    sc_ratelimit_local_t *table;
    pthread_barrier_t start;
    atomic_uint admitted, quota_refusals, other_refusals;
    atomic_int size_exceeded;
    atomic_int next_index;
} hammer_t;

static void run_threads(hammer_t *h, void *(*fn)(void *))
{
    pthread_t threads[THREADS];
    pthread_barrier_init(&h->start, NULL, THREADS);
    for (int i = 0; i != THREADS; ++i)
        assert_int_equal(pthread_create(&threads[i], NULL, fn, h), 0);
    for (int i = 0; i != THREADS; ++i)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&h->start);
}

static void count(hammer_t *h, sc_limit_decision_t d)
{
    if (d.gcra.allowed)
        atomic_fetch_add(&h->admitted, 1);
    else if (d.quota_exhausted)
        atomic_fetch_add(&h->quota_refusals, 1);
    else
        atomic_fetch_add(&h->other_refusals, 1);
}

/* 5000 decisions for one key at one instant: only the burst may pass, whoever asks. */
static void *hot_key_at_one_instant(void *arg)
{
    hammer_t *h = arg;
    sc_gcra_limit_t limit = {100, 1000};
    pthread_barrier_wait(&h->start);
    for (int i = 0; i != 5000; ++i)
        count(h, sc_ratelimit_local_decide(h->table, "acme", 4, limit, 0, 10 * S, 1));
    return NULL;
}

static void test_exact_across_threads(void **state)
{
    (void)state;
    hammer_t h = {.table = sc_ratelimit_local_create(1024)};
    run_threads(&h, hot_key_at_one_instant);
    assert_int_equal(h.admitted, 1000); /* the burst, once for the process, not once per thread */
    assert_int_equal(h.other_refusals, THREADS * 5000 - 1000);
    sc_ratelimit_local_destroy(h.table);
}

/* Each thread asks for 64 keys in turn, 50 times each, as time moves on by 1 us a round. */
static void *many_keys_moving_clock(void *arg)
{
    hammer_t *h = arg;
    sc_gcra_limit_t limit = {10, 20}; /* one every 100 ms: the 50 us of the test add nothing */
    char key[16];
    pthread_barrier_wait(&h->start);
    for (int round = 0; round != 50; ++round) {
        for (int k = 0; k != 64; ++k) {
            snprintf(key, sizeof(key), "tenant-%d", k);
            count(h, sc_ratelimit_local_decide(h->table, key, strlen(key), limit, 0, 10 * S + (uint64_t)round * US, 1));
        }
    }
    return NULL;
}

static void test_exact_per_key_across_threads(void **state)
{
    (void)state;
    hammer_t h = {.table = sc_ratelimit_local_create(1024)};
    run_threads(&h, many_keys_moving_clock);
    assert_int_equal(h.admitted, 64 * 20); /* every key got its burst, exactly */
    assert_int_equal(sc_ratelimit_local_size(h.table), 64);
    sc_ratelimit_local_destroy(h.table);
}

/* 1000 decisions each with a quota of 777 and a rate that never refuses. */
static void *quota_of_777(void *arg)
{
    hammer_t *h = arg;
    sc_gcra_limit_t limit = {SC_GCRA_MAX_RATE, SC_GCRA_MAX_BURST};
    pthread_barrier_wait(&h->start);
    for (int i = 0; i != 1000; ++i)
        count(h, sc_ratelimit_local_decide(h->table, "acme", 4, limit, 777, 10 * S, 20000));
    return NULL;
}

static void test_daily_quota_across_threads(void **state)
{
    (void)state;
    hammer_t h = {.table = sc_ratelimit_local_create(1024)};
    run_threads(&h, quota_of_777);
    assert_int_equal(h.admitted, 777);
    assert_int_equal(h.quota_refusals, THREADS * 1000 - 777);
    assert_int_equal(h.other_refusals, 0);
    sc_gcra_limit_t limit = {SC_GCRA_MAX_RATE, SC_GCRA_MAX_BURST};
    assert_true(sc_ratelimit_local_decide(h.table, "acme", 4, limit, 777, 11 * S, 20001).gcra.allowed); /* a new day */
    sc_ratelimit_local_destroy(h.table);
}

/* Many more keys than the table holds, each idle a microsecond after its only request. */
static unsigned churn(sc_ratelimit_local_t *t, const char *prefix, int keys, uint64_t t0, size_t bound)
{
    sc_gcra_limit_t fast = {SC_GCRA_MAX_RATE, 1};
    char key[32];
    unsigned admitted = 0;
    for (int i = 0; i != keys; ++i) {
        snprintf(key, sizeof(key), "%s%d", prefix, i);
        admitted += sc_ratelimit_local_decide(t, key, strlen(key), fast, 0, t0 + (uint64_t)i * 2 * US, 1).gcra.allowed;
        if (sc_ratelimit_local_size(t) > bound)
            fail_msg("size %zu over the bound %zu", sc_ratelimit_local_size(t), bound);
    }
    return admitted;
}

static void test_limits_in_force_survive_churn(void **state)
{
    (void)state;
    sc_ratelimit_local_t *t = sc_ratelimit_local_create(64);
    sc_gcra_limit_t slow = {1, 1}, fast = {SC_GCRA_MAX_RATE, SC_GCRA_MAX_BURST};
    assert_true(sc_ratelimit_local_decide(t, "acme", 4, slow, 0, 10 * S, 7).gcra.allowed);   /* in force for 1 s */
    assert_true(sc_ratelimit_local_decide(t, "globex", 6, fast, 1, 10 * S, 7).gcra.allowed); /* quota spent today */
    assert_int_equal(churn(t, "idle-", 100000, 10 * S, 64), 100000);                         /* idle keys always find room */
    uint64_t later = 10 * S + 100000 * 2 * US + S / 2;                                       /* 0.7 s on: acme still in force */
    assert_false(sc_ratelimit_local_decide(t, "acme", 4, slow, 0, later, 7).gcra.allowed);
    assert_true(sc_ratelimit_local_decide(t, "globex", 6, fast, 1, later, 7).quota_exhausted);
    sc_ratelimit_local_destroy(t);
}

static void *churn_beside_a_hot_key(void *arg)
{
    hammer_t *h = arg;
    char prefix[16];
    snprintf(prefix, sizeof(prefix), "t%d-", atomic_fetch_add(&h->next_index, 1));
    sc_gcra_limit_t slow = {1, 1};
    pthread_barrier_wait(&h->start);
    for (int round = 0; round != 20; ++round) {
        churn(h->table, prefix, 1000, 10 * S + (uint64_t)round * 2000 * 2 * US, 256);
        count(h, sc_ratelimit_local_decide(h->table, "acme", 4, slow, 0, 10 * S + (uint64_t)round * 2000 * 2 * US, 7));
    }
    return NULL;
}

static void test_bounded_under_concurrent_churn(void **state)
{
    (void)state;
    hammer_t h = {.table = sc_ratelimit_local_create(256)};
    sc_gcra_limit_t slow = {1, 1};
    assert_true(sc_ratelimit_local_decide(h.table, "acme", 4, slow, 0, 10 * S, 7).gcra.allowed);
    run_threads(&h, churn_beside_a_hot_key); /* 80 000 new keys through a table of 256 */
    assert_int_equal(h.admitted, 0);         /* acme's TAT is 11 s: refused all along, never forgotten */
    assert_true(sc_ratelimit_local_size(h.table) <= 256);
    sc_ratelimit_local_destroy(h.table);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_table_shares_and_separates), cmocka_unit_test(test_daily_quota),
        cmocka_unit_test(test_local_table_stays_bounded),        cmocka_unit_test(test_exact_across_threads),
        cmocka_unit_test(test_exact_per_key_across_threads),     cmocka_unit_test(test_daily_quota_across_threads),
        cmocka_unit_test(test_limits_in_force_survive_churn),    cmocka_unit_test(test_bounded_under_concurrent_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
