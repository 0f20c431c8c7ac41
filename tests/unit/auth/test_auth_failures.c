/* The pre-auth failure budget and the memory of failed signatures (auth_failures.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "auth_failures.h"

#define SEC ((uint64_t)1000000000)

static void test_per_client_budget(void **state)
{
    (void)state;
    sc_auth_failures_t *f = sc_auth_failures_create((sc_gcra_limit_t){1, 3}, (sc_gcra_limit_t){1000, 1000}, 64, 64, 60 * SEC);
    assert_non_null(f);
    uint64_t now = 1000 * SEC;
    for (int i = 0; i != 3; ++i) {
        assert_int_equal(sc_auth_failures_exhausted(f, "10.0.0.1", 8, now), 0);
        sc_auth_failures_count(f, "10.0.0.1", 8, now);
    }
    assert_int_equal(sc_auth_failures_exhausted(f, "10.0.0.1", 8, now), 1); /* one more in a second */
    assert_int_equal(sc_auth_failures_exhausted(f, "10.0.0.2", 8, now), 0); /* another client is not affected */
    assert_int_equal(sc_auth_failures_exhausted(f, "10.0.0.1", 8, now + SEC), 0);
    sc_auth_failures_free(f);
}

static void test_total_budget(void **state)
{
    (void)state;
    sc_auth_failures_t *f = sc_auth_failures_create((sc_gcra_limit_t){100, 100}, (sc_gcra_limit_t){1, 2}, 64, 64, 60 * SEC);
    uint64_t now = 5 * SEC;
    sc_auth_failures_count(f, "a", 1, now);
    sc_auth_failures_count(f, "b", 1, now);
    assert_int_equal(sc_auth_failures_exhausted(f, "c", 1, now), 1); /* everyone shares the total */
    assert_int_equal(sc_auth_failures_exhausted(f, "c", 1, now + 2 * SEC), 0);
    sc_auth_failures_free(f);
}

static void test_failed_tokens_are_remembered_briefly(void **state)
{
    (void)state;
    sc_auth_failures_t *f = sc_auth_failures_create((sc_gcra_limit_t){1, 1}, (sc_gcra_limit_t){1, 1}, 16, 16, 60 * SEC);
    unsigned char bad[SC_AUTH_DIGEST_LEN], other[SC_AUTH_DIGEST_LEN];
    memset(bad, 0xab, sizeof(bad));
    memset(other, 0xab, sizeof(other));
    other[31] = 0; /* differs in the last byte only */
    uint64_t now = 10 * SEC;
    assert_false(sc_auth_failures_known_bad_token(f, bad, now));
    sc_auth_failures_remember_bad_token(f, bad, now);
    assert_true(sc_auth_failures_known_bad_token(f, bad, now + 59 * SEC));
    assert_false(sc_auth_failures_known_bad_token(f, other, now));
    assert_false(sc_auth_failures_known_bad_token(f, bad, now + 60 * SEC)); /* forgotten */
    sc_auth_failures_free(f);
}

static void test_tables_stay_bounded(void **state)
{
    (void)state;
    sc_auth_failures_t *f = sc_auth_failures_create((sc_gcra_limit_t){1, 1}, (sc_gcra_limit_t){1000000, 1000000}, 4, 4, SEC);
    char addr[64];
    for (int i = 0; i != 10000; ++i) { /* many addresses: slots are reused, nothing grows */
        int n = snprintf(addr, sizeof(addr), "2001:db8::%x", i);
        sc_auth_failures_count(f, addr, (size_t)n, SEC);
    }
    /* a very long "address" is cut, never overflows */
    char longer[200];
    memset(longer, 'x', sizeof(longer));
    sc_auth_failures_count(f, longer, sizeof(longer), SEC);
    assert_int_not_equal(sc_auth_failures_exhausted(f, longer, sizeof(longer), SEC), 0);
    sc_auth_failures_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_client_budget),
        cmocka_unit_test(test_total_budget),
        cmocka_unit_test(test_failed_tokens_are_remembered_briefly),
        cmocka_unit_test(test_tables_stay_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
