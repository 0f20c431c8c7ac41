/* The per-tenant label registry: first come, first served, bounded, one index per tenant whatever
 * the thread, lookups of names that share a prefix kept apart. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "tenant_labels.h"

static size_t index_of(sc_tenant_labels_t *l, const char *tenant)
{
    return sc_tenant_labels_index(l, tenant, strlen(tenant));
}

static void test_first_come_first_served(void **state)
{
    (void)state;
    sc_tenant_labels_t *l = sc_tenant_labels_create(3);
    assert_non_null(l);
    assert_int_equal(sc_tenant_labels_count(l), 0);
    assert_int_equal(index_of(l, "acme"), 0);
    assert_int_equal(index_of(l, "acme2"), 1); /* a longer name that starts with another */
    assert_int_equal(index_of(l, "acm"), 2);   /* and a shorter one */
    assert_int_equal(index_of(l, "acme"), 0);
    assert_int_equal(index_of(l, "acme2"), 1);
    assert_int_equal(index_of(l, "globex"), 3); /* the bound: "_other" */
    assert_int_equal(index_of(l, "initech"), 3);
    assert_int_equal(sc_tenant_labels_count(l), 3);
    assert_string_equal(sc_tenant_labels_name(l, 0), "acme");
    assert_string_equal(sc_tenant_labels_name(l, 1), "acme2");
    assert_string_equal(sc_tenant_labels_name(l, 3), SC_TENANT_LABELS_OTHER);
    /* the length bounds the name */
    assert_int_equal(sc_tenant_labels_index(l, "acme2-and-more", 5), 1);
    sc_tenant_labels_destroy(l);
}

#define THREADS 4
#define TENANTS 200

static sc_tenant_labels_t *shared;
static size_t seen[THREADS][TENANTS];

static void *look_up_all(void *arg)
{
    size_t t = (size_t)arg;
    char name[32];
    for (size_t round = 0; round != 3; ++round)
        for (size_t i = 0; i != TENANTS; ++i) {
            size_t k = (i + t * 37) % TENANTS; /* each thread in its own order */
            snprintf(name, sizeof(name), "tenant-%zu", k);
            size_t index = index_of(shared, name);
            if (round != 0 && index != seen[t][k])
                return (void *)1; /* a tenant changed series */
            seen[t][k] = index;
        }
    return NULL;
}

static void test_threads_agree(void **state)
{
    (void)state;
    pthread_t threads[THREADS];
    shared = sc_tenant_labels_create(TENANTS / 2);
    assert_non_null(shared);
    for (size_t t = 0; t != THREADS; ++t)
        assert_int_equal(pthread_create(&threads[t], NULL, look_up_all, (void *)t), 0);
    for (size_t t = 0; t != THREADS; ++t) {
        void *rc;
        pthread_join(threads[t], &rc);
        assert_null(rc);
    }
    assert_int_equal(sc_tenant_labels_count(shared), TENANTS / 2);
    size_t own[TENANTS / 2 + 1] = {0};
    for (size_t k = 0; k != TENANTS; ++k) {
        for (size_t t = 1; t != THREADS; ++t)
            assert_int_equal(seen[t][k], seen[0][k]); /* one index per tenant, whoever asked */
        assert_true(seen[0][k] <= TENANTS / 2);
        ++own[seen[0][k]];
    }
    for (size_t i = 0; i != TENANTS / 2; ++i)
        assert_int_equal(own[i], 1); /* each series belongs to one tenant */
    assert_int_equal(own[TENANTS / 2], TENANTS / 2);
    sc_tenant_labels_destroy(shared);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_come_first_served),
        cmocka_unit_test(test_threads_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
