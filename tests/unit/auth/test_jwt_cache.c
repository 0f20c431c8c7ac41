/* The per-thread cache of verified tokens: hits, misses, expiry, the bound, and the hash index
 * under many insertions and deletions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "jwt_cache.h"

#define NOW 2000000000

static sc_jwt_issuer_t issuer = {.issuer = "https://idp.example.test"};

static sc_jwt_claims_t claims_for(const char *subject, int64_t exp)
{
    static char *scopes[] = {"read", "write", NULL};
    return (sc_jwt_claims_t){
        .issuer = &issuer, .subject = (char *)subject, .tenant = "tenant-a", .scopes = scopes, .num_scopes = 2, .exp = exp};
}

static const char *token_name(char *buf, size_t i)
{
    snprintf(buf, 64, "eyJhbGciOiJSUzI1NiJ9.token-%zu.c2lnbmF0dXJl", i);
    return buf;
}

static void test_create_bounds(void **state)
{
    (void)state;
    assert_null(sc_jwt_cache_create(0));
    assert_null(sc_jwt_cache_create(SC_JWT_CACHE_MAX_CAPACITY + 1));
    sc_jwt_cache_t *c = sc_jwt_cache_create(1);
    assert_non_null(c);
    assert_int_equal(sc_jwt_cache_count(c), 0);
    sc_jwt_cache_free(c);
    sc_jwt_cache_free(NULL);
}

static void test_hit_and_miss(void **state)
{
    (void)state;
    sc_jwt_cache_t *c = sc_jwt_cache_create(16);
    const char *token = "aaa.bbb.ccc";
    sc_jwt_claims_t claims = claims_for("user-1", NOW + 60);

    assert_null(sc_jwt_cache_lookup(c, token, strlen(token), NOW));
    assert_int_equal(sc_jwt_cache_insert(c, token, strlen(token), &claims), 0);
    assert_int_equal(sc_jwt_cache_count(c), 1);

    const sc_jwt_claims_t *hit = sc_jwt_cache_lookup(c, token, strlen(token), NOW);
    assert_non_null(hit);
    assert_ptr_not_equal(hit, &claims); /* a copy */
    assert_ptr_not_equal(hit->subject, claims.subject);
    assert_ptr_equal(hit->issuer, &issuer);
    assert_string_equal(hit->subject, "user-1");
    assert_string_equal(hit->tenant, "tenant-a");
    assert_int_equal(hit->num_scopes, 2);
    assert_string_equal(hit->scopes[0], "read");
    assert_string_equal(hit->scopes[1], "write");
    assert_int_equal(hit->exp, NOW + 60);

    /* the exact bytes: a prefix, a longer token, one changed byte all miss */
    assert_null(sc_jwt_cache_lookup(c, token, strlen(token) - 1, NOW));
    assert_null(sc_jwt_cache_lookup(c, "aaa.bbb.cccd", 12, NOW));
    assert_null(sc_jwt_cache_lookup(c, "aaa.bbb.ccd", 11, NOW));
    assert_non_null(sc_jwt_cache_lookup(c, "aaa.bbb.ccc-not-read", 11, NOW));

    /* inserting the same token again replaces its entry */
    sc_jwt_claims_t again = claims_for("user-2", NOW + 60);
    assert_int_equal(sc_jwt_cache_insert(c, token, strlen(token), &again), 0);
    assert_int_equal(sc_jwt_cache_count(c), 1);
    assert_string_equal(sc_jwt_cache_lookup(c, token, strlen(token), NOW)->subject, "user-2");

    /* absent optional claims */
    sc_jwt_claims_t bare = {.issuer = &issuer, .exp = NOW + 60};
    assert_int_equal(sc_jwt_cache_insert(c, "x.y.z", 5, &bare), 0);
    hit = sc_jwt_cache_lookup(c, "x.y.z", 5, NOW);
    assert_non_null(hit);
    assert_null(hit->subject);
    assert_null(hit->tenant);
    assert_null(hit->scopes);
    assert_int_equal(hit->num_scopes, 0);

    sc_jwt_cache_clear(c);
    assert_int_equal(sc_jwt_cache_count(c), 0);
    assert_null(sc_jwt_cache_lookup(c, token, strlen(token), NOW));
    sc_jwt_cache_free(c);
}

static void test_expiry(void **state)
{
    (void)state;
    sc_jwt_cache_t *c = sc_jwt_cache_create(16);
    sc_jwt_claims_t claims = claims_for("user-1", NOW + 60);
    assert_int_equal(sc_jwt_cache_insert(c, "a.b.c", 5, &claims), 0);
    assert_non_null(sc_jwt_cache_lookup(c, "a.b.c", 5, NOW + 59));
    /* at exp, never later: the entry is dropped */
    assert_null(sc_jwt_cache_lookup(c, "a.b.c", 5, NOW + 60));
    assert_int_equal(sc_jwt_cache_count(c), 0);
    assert_null(sc_jwt_cache_lookup(c, "a.b.c", 5, NOW));
    /* an expired token can be stored (verification allows a leeway) but is never returned */
    claims.exp = NOW - 1;
    assert_int_equal(sc_jwt_cache_insert(c, "d.e.f", 5, &claims), 0);
    assert_null(sc_jwt_cache_lookup(c, "d.e.f", 5, NOW));
    sc_jwt_cache_free(c);
}

static void test_bound(void **state)
{
    (void)state;
    char name[64];
    sc_jwt_cache_t *c = sc_jwt_cache_create(4);
    for (size_t i = 0; i != 10; ++i) {
        sc_jwt_claims_t claims = claims_for(token_name(name, i), NOW + 60);
        assert_int_equal(sc_jwt_cache_insert(c, name, strlen(name), &claims), 0);
        assert_true(sc_jwt_cache_count(c) <= 4);
    }
    assert_int_equal(sc_jwt_cache_count(c), 4);
    /* the oldest went first */
    for (size_t i = 0; i != 10; ++i) {
        const sc_jwt_claims_t *hit = sc_jwt_cache_lookup(c, token_name(name, i), strlen(name), NOW);
        if (i < 6) {
            assert_null(hit);
        } else {
            assert_non_null(hit);
            assert_string_equal(hit->subject, name);
        }
    }
    /* capacity 1 */
    sc_jwt_cache_free(c);
    c = sc_jwt_cache_create(1);
    sc_jwt_claims_t a = claims_for("a", NOW + 60), b = claims_for("b", NOW + 60);
    sc_jwt_cache_insert(c, "a", 1, &a);
    sc_jwt_cache_insert(c, "b", 1, &b);
    assert_null(sc_jwt_cache_lookup(c, "a", 1, NOW));
    assert_string_equal(sc_jwt_cache_lookup(c, "b", 1, NOW)->subject, "b");
    assert_int_equal(sc_jwt_cache_count(c), 1);
    sc_jwt_cache_free(c);
}

/* Many entries, evicted and expired out of the middle of probe runs: every lookup must still
 * find exactly what is there. */
static void test_many(void **state)
{
    (void)state;
    enum { CAPACITY = 1000, TOTAL = 5000 };
    char name[64];
    sc_jwt_cache_t *c = sc_jwt_cache_create(CAPACITY);

    for (size_t i = 0; i != TOTAL; ++i) {
        sc_jwt_claims_t claims = claims_for(token_name(name, i), i % 2 == 0 ? NOW + 10 : NOW + 1000);
        assert_int_equal(sc_jwt_cache_insert(c, name, strlen(name), &claims), 0);
    }
    assert_int_equal(sc_jwt_cache_count(c), CAPACITY);
    for (size_t i = 0; i != TOTAL; ++i) {
        const sc_jwt_claims_t *hit = sc_jwt_cache_lookup(c, token_name(name, i), strlen(name), NOW);
        if (i < TOTAL - CAPACITY)
            assert_null(hit);
        else if (hit == NULL || strcmp(hit->subject, name) != 0)
            fail_msg("%s: not found", name);
    }
    /* half of them expire: looking them up drops them from the index */
    for (size_t i = TOTAL - CAPACITY; i != TOTAL; i += 2)
        assert_null(sc_jwt_cache_lookup(c, token_name(name, i), strlen(name), NOW + 10));
    assert_int_equal(sc_jwt_cache_count(c), CAPACITY / 2);
    for (size_t i = TOTAL - CAPACITY; i != TOTAL; ++i) {
        const sc_jwt_claims_t *hit = sc_jwt_cache_lookup(c, token_name(name, i), strlen(name), NOW + 10);
        if (i % 2 == 0)
            assert_null(hit);
        else if (hit == NULL || strcmp(hit->subject, name) != 0)
            fail_msg("%s: lost after deletions", name);
    }
    /* and the ring refills the holes */
    for (size_t i = TOTAL; i != TOTAL + CAPACITY; ++i) {
        sc_jwt_claims_t claims = claims_for(token_name(name, i), NOW + 1000);
        assert_int_equal(sc_jwt_cache_insert(c, name, strlen(name), &claims), 0);
        assert_true(sc_jwt_cache_count(c) <= CAPACITY);
    }
    for (size_t i = TOTAL; i != TOTAL + CAPACITY; ++i)
        assert_non_null(sc_jwt_cache_lookup(c, token_name(name, i), strlen(name), NOW));
    sc_jwt_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_bounds), cmocka_unit_test(test_hit_and_miss), cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_bound),         cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
