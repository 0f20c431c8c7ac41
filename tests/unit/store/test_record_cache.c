/* The per-worker record cache: lookups, LRU eviction that spares entries with a lookup in
 * flight, detaching, and the reference counts that keep a record alive while a request uses
 * it. Records are heap ints freed by a counting function, so a double free or a leak shows
 * both in the counters and under valgrind. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <h2o/memory.h>

#include "record_cache.h"

static size_t frees;

static int setup(void **state)
{
    (void)state;
    frees = 0;
    return 0;
}

static void count_free(void *record)
{
    ++frees;
    free(record);
}

/* A new value holding a heap record with the number n; the caller owns one reference. */
static sc_cached_t *value_new(int n)
{
    int *record = malloc(sizeof(*record));
    assert_non_null(record);
    *record = n;
    return sc_record_cache_value_new(record, count_free);
}

static sc_cache_entry_t *insert(sc_record_cache_t *c, const char *key)
{
    sc_cache_entry_t *e = sc_record_cache_insert(c, key, strlen(key));
    assert_non_null(e);
    return e;
}

/* Inserts `key` with a value; the cache holds the only reference afterwards. */
static sc_cache_entry_t *insert_value(sc_record_cache_t *c, const char *key, int n, uint64_t now)
{
    sc_cache_entry_t *e = insert(c, key);
    sc_cached_t *v = value_new(n);
    sc_record_cache_set(e, v, now);
    h2o_mem_release_shared(v);
    return e;
}

static sc_cache_entry_t *find(sc_record_cache_t *c, const char *key)
{
    return sc_record_cache_find(c, key, strlen(key));
}

static void test_insert_find(void **state)
{
    (void)state;
    sc_record_cache_t *c = sc_record_cache_create(8);
    assert_non_null(c);
    assert_int_equal(sc_record_cache_size(c), 0);
    assert_null(find(c, "acme"));

    sc_cache_entry_t *e = insert(c, "acme");
    assert_int_equal(sc_record_cache_size(c), 1);
    assert_string_equal(e->key, "acme"); /* a NUL-terminated copy */
    assert_int_equal(e->key_len, 4);
    assert_null(e->value); /* empty until the first lookup completes */
    assert_int_equal(e->pending, 0);
    assert_int_equal(e->detached, 0);
    assert_true(h2o_linklist_is_empty(&e->pending_lookups));

    assert_ptr_equal(find(c, "acme"), e);
    assert_null(find(c, "acm"));
    assert_null(find(c, "acmee"));
    assert_null(find(c, "ACME"));
    /* keys are compared by length, not up to a NUL */
    assert_ptr_equal(sc_record_cache_find(c, "acme-corp", 4), e);
    sc_cache_entry_t *nul = sc_record_cache_insert(c, "acme\0x", 6);
    assert_non_null(nul);
    assert_ptr_not_equal(nul, e);
    assert_ptr_equal(sc_record_cache_find(c, "acme\0x", 6), nul);
    assert_ptr_equal(find(c, "acme"), e);
    assert_int_equal(sc_record_cache_size(c), 2);

    sc_cached_t *v = value_new(7);
    sc_record_cache_set(e, v, 12345);
    h2o_mem_release_shared(v);
    assert_ptr_equal(find(c, "acme")->value, v);
    assert_int_equal(*(int *)find(c, "acme")->value->record, 7);
    assert_int_equal(find(c, "acme")->fetched_at, 12345);

    sc_record_cache_destroy(c);
    assert_int_equal(frees, 1);
}

static void test_lru_eviction(void **state)
{
    (void)state;
    sc_record_cache_t *c = sc_record_cache_create(3);
    sc_cache_entry_t *a = insert_value(c, "a", 1, 0);
    insert_value(c, "b", 2, 0);
    insert_value(c, "c", 3, 0);
    assert_int_equal(sc_record_cache_size(c), 3);

    /* a hit makes "a" the most recent: "b" is now the least recently used */
    assert_ptr_equal(find(c, "a"), a);
    sc_cache_entry_t *d = insert_value(c, "d", 4, 0);
    assert_int_equal(sc_record_cache_size(c), 3);
    assert_int_equal(frees, 1); /* b's record, released with its entry */
    assert_null(find(c, "b"));

    /* order now (most recent first): d a c; inserting e evicts c */
    sc_cache_entry_t *e = insert_value(c, "e", 5, 0);
    assert_int_equal(frees, 2);
    assert_int_equal(sc_record_cache_size(c), 3);
    assert_null(find(c, "c"));
    assert_ptr_equal(find(c, "a"), a);
    assert_ptr_equal(find(c, "d"), d);
    assert_ptr_equal(find(c, "e"), e);

    /* order: e d a; a miss does not reorder, so a goes next */
    assert_null(find(c, "zzz"));
    insert(c, "f");
    assert_null(find(c, "a"));
    assert_int_equal(frees, 3);
    assert_non_null(find(c, "d"));
    assert_non_null(find(c, "e"));
    assert_non_null(find(c, "f"));

    sc_record_cache_destroy(c);
    assert_int_equal(frees, 5); /* d and e; f had no value */
}

static void test_pending_never_evicted(void **state)
{
    (void)state;
    sc_record_cache_t *c = sc_record_cache_create(2);
    sc_cache_entry_t *a = insert_value(c, "a", 1, 0);
    a->pending = 1; /* a refresh is in flight */
    insert_value(c, "b", 2, 0);

    /* a is the least recently used, but pending: b goes instead */
    sc_cache_entry_t *cc = insert(c, "c");
    assert_ptr_equal(find(c, "a"), a);
    assert_null(find(c, "b"));
    assert_int_equal(frees, 1);
    assert_int_equal(*(int *)a->value->record, 1);
    assert_int_equal(sc_record_cache_size(c), 2);

    /* nothing is evictable: the cache grows past its bound rather than drop a lookup */
    cc->pending = 1;
    sc_cache_entry_t *d = insert(c, "d");
    assert_ptr_equal(find(c, "a"), a);
    assert_ptr_equal(find(c, "c"), cc);
    assert_ptr_equal(find(c, "d"), d);
    assert_int_equal(sc_record_cache_size(c), 3);

    /* once a lookup completes, its entry is evictable again, and the oldest goes */
    a->pending = 0;
    cc->pending = 0;
    insert(c, "e"); /* order before: d c a */
    assert_null(find(c, "a"));
    assert_int_equal(frees, 2);
    assert_non_null(find(c, "e"));

    sc_record_cache_destroy(c);
    assert_int_equal(frees, 2);
}

static void test_remove_pending_detaches(void **state)
{
    (void)state;
    sc_record_cache_t *c = sc_record_cache_create(8);
    sc_cache_entry_t *old = insert_value(c, "acme", 1, 0);
    insert_value(c, "globex", 2, 0);
    old->pending = 1;

    sc_record_cache_remove(c, old); /* invalidated while a lookup is in flight */
    assert_int_equal(old->detached, 1);
    assert_null(find(c, "acme"));
    assert_int_equal(sc_record_cache_size(c), 1);
    assert_int_equal(frees, 0); /* the entry and its value live on for the lookup's owner */
    assert_string_equal(old->key, "acme");
    assert_int_equal(*(int *)old->value->record, 1);

    /* the key can be cached afresh while the detached entry still exists */
    sc_cache_entry_t *fresh = insert_value(c, "acme", 3, 0);
    assert_ptr_not_equal(fresh, old);
    assert_ptr_equal(find(c, "acme"), fresh);
    assert_int_equal(sc_record_cache_size(c), 2);

    /* the lookup completes: the owner frees the detached entry, value included */
    old->pending = 0;
    sc_record_cache_free_detached(old);
    assert_int_equal(frees, 1);
    assert_ptr_equal(find(c, "acme"), fresh);
    assert_int_equal(*(int *)fresh->value->record, 3);

    /* a non-pending entry is freed at once */
    sc_record_cache_remove(c, fresh);
    assert_int_equal(frees, 2);
    assert_null(find(c, "acme"));
    assert_int_equal(sc_record_cache_size(c), 1);

    sc_record_cache_destroy(c);
    assert_int_equal(frees, 3);
}

static void test_clear(void **state)
{
    (void)state;
    sc_record_cache_t *c = sc_record_cache_create(16);
    char key[16];
    for (int i = 0; i != 10; ++i) {
        snprintf(key, sizeof(key), "t%d", i);
        insert_value(c, key, i, 0);
    }
    sc_cache_entry_t *pending = find(c, "t4");
    pending->pending = 1;
    insert(c, "empty"); /* an entry without a value */

    sc_record_cache_clear(c);
    assert_int_equal(sc_record_cache_size(c), 0);
    assert_int_equal(frees, 9); /* all but the pending entry's */
    for (int i = 0; i != 10; ++i) {
        snprintf(key, sizeof(key), "t%d", i);
        assert_null(find(c, key));
    }
    assert_null(find(c, "empty"));
    assert_int_equal(pending->detached, 1);

    /* usable after clearing */
    sc_cache_entry_t *e = insert_value(c, "t4", 40, 0);
    assert_ptr_equal(find(c, "t4"), e);
    assert_int_equal(sc_record_cache_size(c), 1);

    sc_record_cache_free_detached(pending);
    assert_int_equal(frees, 10);
    sc_record_cache_destroy(c);
    assert_int_equal(frees, 11);
}

static void test_value_outlives_eviction(void **state)
{
    (void)state;
    sc_record_cache_t *c = sc_record_cache_create(1);
    h2o_mem_pool_t req_pool;
    h2o_mem_init_pool(&req_pool);

    sc_cached_t *v = value_new(1);
    sc_cache_entry_t *e = insert(c, "acme");
    sc_record_cache_set(e, v, 0);
    h2o_mem_release_shared(v); /* the fetcher's reference: the cache now holds the only one */
    assert_int_equal(frees, 0);

    /* a request uses the record: its pool holds a reference until the request ends */
    h2o_mem_link_shared(&req_pool, e->value);

    insert(c, "globex"); /* evicts acme under the request */
    assert_null(find(c, "acme"));
    assert_int_equal(frees, 0);
    assert_int_equal(*(int *)v->record, 1); /* still readable (valgrind checks) */

    h2o_mem_clear_pool(&req_pool); /* the request ends: the last reference goes */
    assert_int_equal(frees, 1);

    sc_record_cache_destroy(c);
    assert_int_equal(frees, 1);
}

static void test_value_outlives_request(void **state)
{
    (void)state;
    sc_record_cache_t *c = sc_record_cache_create(4);
    h2o_mem_pool_t req_pool;
    h2o_mem_init_pool(&req_pool);

    sc_cache_entry_t *e = insert_value(c, "acme", 1, 0);
    h2o_mem_link_shared(&req_pool, e->value);
    h2o_mem_clear_pool(&req_pool); /* the request ends first: the cache keeps the record */
    assert_int_equal(frees, 0);
    assert_int_equal(*(int *)find(c, "acme")->value->record, 1);

    sc_record_cache_destroy(c);
    assert_int_equal(frees, 1);
}

/* A packed value: the record lives in the value's own block, aligned, and goes with it. */
static void test_packed_value(void **state)
{
    (void)state;
    sc_record_cache_t *c = sc_record_cache_create(4);
    h2o_mem_pool_t req_pool;
    h2o_mem_init_pool(&req_pool);

    sc_cached_t *v = sc_record_cache_value_new_packed(3 * sizeof(uint64_t));
    assert_non_null(v->record);
    assert_int_equal((uintptr_t)v->record % _Alignof(max_align_t), 0);
    uint64_t *record = v->record;
    record[0] = 1, record[1] = 2, record[2] = 3; /* ASan: the 24 bytes are the caller's */
    sc_cache_entry_t *e = insert(c, "acme");
    sc_record_cache_set(e, v, 0);
    h2o_mem_release_shared(v);
    h2o_mem_link_shared(&req_pool, e->value);
    sc_record_cache_destroy(c); /* the request still holds it */
    assert_int_equal(record[2], 3);
    h2o_mem_clear_pool(&req_pool); /* one block, freed once (ASan: no leak, no double free) */
    assert_int_equal(frees, 0);    /* no free function is called for a packed record */
}

/* Keys are bytes, not strings: a binary digest with NULs and high bytes is found again. */
static void test_binary_keys(void **state)
{
    (void)state;
    sc_record_cache_t *c = sc_record_cache_create(4);
    const char a[] = {'k', ':', 'x', ':', 0, (char)0xff, 0, 1}, b[] = {'k', ':', 'x', ':', 0, (char)0xff, 0, 2};
    sc_cache_entry_t *ea = sc_record_cache_insert(c, a, sizeof(a)), *eb = sc_record_cache_insert(c, b, sizeof(b));
    assert_non_null(ea);
    assert_non_null(eb);
    assert_ptr_equal(sc_record_cache_find(c, a, sizeof(a)), ea);
    assert_ptr_equal(sc_record_cache_find(c, b, sizeof(b)), eb);
    assert_null(sc_record_cache_find(c, a, 4)); /* a prefix up to the first NUL is another key */
    sc_record_cache_destroy(c);
}

static void test_set_replaces_value(void **state)
{
    (void)state;
    sc_record_cache_t *c = sc_record_cache_create(4);
    sc_cache_entry_t *e = insert_value(c, "acme", 1, 100);
    sc_cached_t *held = e->value;
    h2o_mem_addref_shared(held); /* an extra holder, like a waiting request */

    sc_cached_t *v2 = value_new(2);
    sc_record_cache_set(e, v2, 200); /* a refresh replaces the value */
    h2o_mem_release_shared(v2);
    assert_ptr_equal(e->value, v2);
    assert_int_equal(e->fetched_at, 200);
    assert_int_equal(frees, 0); /* the old record is still held */
    assert_int_equal(*(int *)held->record, 1);
    h2o_mem_release_shared(held);
    assert_int_equal(frees, 1);

    /* setting the value the entry already has keeps it alive */
    sc_record_cache_set(e, e->value, 300);
    assert_int_equal(frees, 1);
    assert_int_equal(*(int *)e->value->record, 2);
    assert_int_equal(e->fetched_at, 300);

    /* known absent: no record and no free function */
    sc_cached_t *absent = sc_record_cache_value_new(NULL, NULL);
    sc_record_cache_set(e, absent, 400);
    h2o_mem_release_shared(absent);
    assert_int_equal(frees, 2);
    assert_null(e->value->record);

    sc_record_cache_set(e, NULL, 500); /* cleared */
    assert_null(e->value);
    assert_int_equal(e->fetched_at, 500);

    sc_record_cache_destroy(c);
    assert_int_equal(frees, 2);
}

static void test_many_keys_with_shared_prefixes(void **state)
{
    (void)state;
    enum { N = 2000 };
    sc_record_cache_t *c = sc_record_cache_create(N + 100);
    char key[96];

    /* API key hashes of one tenant share a long prefix; "a", "aa", "aaa"... are prefixes of each other */
    for (int i = 0; i != N; ++i) {
        snprintf(key, sizeof(key), "ps:{acme}:key:%060d", i);
        insert_value(c, key, i, 0);
    }
    char run[101];
    memset(run, 'a', sizeof(run));
    for (size_t len = 1; len <= 100; ++len) {
        sc_cache_entry_t *e = sc_record_cache_insert(c, run, len);
        assert_non_null(e);
        assert_int_equal(e->key_len, len);
    }
    assert_int_equal(sc_record_cache_size(c), N + 100);
    assert_int_equal(frees, 0); /* nothing evicted at the bound */

    for (int i = 0; i != N; ++i) {
        snprintf(key, sizeof(key), "ps:{acme}:key:%060d", i);
        sc_cache_entry_t *e = find(c, key);
        if (e == NULL || strcmp(e->key, key) != 0 || *(int *)e->value->record != i)
            fail_msg("key %s: not found or wrong entry", key);
    }
    for (size_t len = 1; len <= 100; ++len) {
        sc_cache_entry_t *e = sc_record_cache_find(c, run, len);
        if (e == NULL || e->key_len != len)
            fail_msg("prefix run of %zu: not found or wrong entry", len);
    }
    assert_null(sc_record_cache_find(c, run, 101));

    /* removing every other key leaves the rest findable: bucket chains stay intact */
    for (int i = 0; i < N; i += 2) {
        snprintf(key, sizeof(key), "ps:{acme}:key:%060d", i);
        sc_record_cache_remove(c, find(c, key));
    }
    assert_int_equal(frees, N / 2);
    assert_int_equal(sc_record_cache_size(c), N / 2 + 100);
    for (int i = 0; i != N; ++i) {
        snprintf(key, sizeof(key), "ps:{acme}:key:%060d", i);
        sc_cache_entry_t *e = find(c, key);
        if ((i % 2 == 0) != (e == NULL))
            fail_msg("key %s: expected %s", key, i % 2 == 0 ? "removed" : "present");
    }

    sc_record_cache_destroy(c);
    assert_int_equal(frees, N);
}

static void test_size_bound_under_churn(void **state)
{
    (void)state;
    enum { MAX = 50 };
    sc_record_cache_t *c = sc_record_cache_create(MAX);
    char key[32];
    for (int i = 0; i != 1000; ++i) {
        snprintf(key, sizeof(key), "tenant-%d", i);
        insert_value(c, key, i, 0);
        assert_true(sc_record_cache_size(c) <= MAX);
    }
    assert_int_equal(sc_record_cache_size(c), MAX);
    assert_int_equal(frees, 1000 - MAX);
    /* the newest MAX keys survive */
    for (int i = 1000 - MAX; i != 1000; ++i) {
        snprintf(key, sizeof(key), "tenant-%d", i);
        assert_non_null(find(c, key));
    }
    snprintf(key, sizeof(key), "tenant-%d", 1000 - MAX - 1);
    assert_null(find(c, key));
    sc_record_cache_destroy(c);
    assert_int_equal(frees, 1000);
    sc_record_cache_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_insert_find, setup),
        cmocka_unit_test_setup(test_lru_eviction, setup),
        cmocka_unit_test_setup(test_pending_never_evicted, setup),
        cmocka_unit_test_setup(test_remove_pending_detaches, setup),
        cmocka_unit_test_setup(test_clear, setup),
        cmocka_unit_test_setup(test_value_outlives_eviction, setup),
        cmocka_unit_test_setup(test_value_outlives_request, setup),
        cmocka_unit_test_setup(test_set_replaces_value, setup),
        cmocka_unit_test_setup(test_many_keys_with_shared_prefixes, setup),
        cmocka_unit_test_setup(test_size_bound_under_churn, setup),
        cmocka_unit_test_setup(test_packed_value, setup),
        cmocka_unit_test_setup(test_binary_keys, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
