/*
 * tenant_store: invalidation messages, whatever their content. The store runs on a real h2o
 * event loop with Redis configured on a port nobody listens on: the connections fail in the
 * background, and no test here needs them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "tenant_store.h"

#define LIT(s) (s), (sizeof(s) - 1)
#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

typedef struct fixture {
    h2o_evloop_t *loop;
    sc_redis_config_t redis;
    sc_tenant_store_t *store;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    f->loop = h2o_evloop_create();
    f->redis = (sc_redis_config_t){.url = "redis://127.0.0.1:1/0",
                                   .host = "127.0.0.1",
                                   .port = 1,
                                   .prefix = "ps:",
                                   .timeout_ms = 50,
                                   .connect_timeout_ms = 100};
    sc_tenant_store_config_t config = {
        .ttl_ms = 60000, .negative_ttl_ms = 5000, .max_stale_ms = 300000, .max_entries = 64, .max_negative_entries = 16};
    f->store = sc_tenant_store_create(f->loop, &f->redis, &config);
    assert_non_null(f->store);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    sc_tenant_store_destroy(f->store);
    h2o_evloop_destroy(f->loop);
    free(f);
    return 0;
}

static uint64_t malformed(const fixture_t *f)
{
    return sc_tenant_store_stats(f->store)->malformed_invalidations;
}

static void test_well_formed_messages(void **state)
{
    fixture_t *f = *state;
    char msg[SC_INVALIDATION_MAX];
    sc_tenant_store_invalidate(f->store, msg, sc_schema_invalidation_format(msg, "acme", NULL)); /* as sidecarctl writes them */
    sc_tenant_store_invalidate(f->store, msg, sc_schema_invalidation_format(msg, "acme", HEX64));
    sc_tenant_store_invalidate(f->store, LIT("all"));
    assert_int_equal(sc_tenant_store_stats(f->store)->invalidations, 3);
    assert_int_equal(malformed(f), 0);
}

/* "key <400 x A> <64 x 0>" overflowed a stack buffer (ASan: stack-buffer-overflow in sc_hash_siphash):
 * the tenant part was never checked and snprintf's wanted length was used as the key length. */
static void test_oversized_tenant_in_a_key_message(void **state)
{
    fixture_t *f = *state;
    size_t len = 4 + 400 + 1 + 64;
    char *msg = malloc(len);
    memcpy(msg, "key ", 4);
    memset(msg + 4, 'A', 400);
    msg[4 + 400] = ' ';
    memset(msg + 4 + 400 + 1, '0', 64);
    sc_tenant_store_invalidate(f->store, msg, len);
    free(msg);
    assert_int_equal(malformed(f), 1);
}

/* A release build segfaulted on a 16 MiB message. */
static void test_huge_message(void **state)
{
    fixture_t *f = *state;
    size_t len = 16 << 20;
    char *msg = malloc(len);
    memset(msg, 'A', len);
    memcpy(msg, "key ", 4);
    msg[len - 65] = ' ';
    sc_tenant_store_invalidate(f->store, msg, len);
    memcpy(msg, "tenant ", 7);
    sc_tenant_store_invalidate(f->store, msg, len);
    free(msg);
    assert_int_equal(malformed(f), 2);
}

static void test_garbage_drops_everything_and_is_counted(void **state)
{
    fixture_t *f = *state;
    sc_tenant_store_invalidate(f->store, LIT("tenant a b"));
    sc_tenant_store_invalidate(f->store, LIT("key acme " HEX64 "ff"));
    sc_tenant_store_invalidate(f->store, LIT("\xff\x00\x01"));
    sc_tenant_store_invalidate(f->store, LIT(""));
    assert_int_equal(malformed(f), 4);
    assert_int_equal(sc_tenant_store_stats(f->store)->invalidations, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_well_formed_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_tenant_in_a_key_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_drops_everything_and_is_counted, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
