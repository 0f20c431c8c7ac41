/*
 * tenant_store: the answers a lookup gets (found, not found, stale within max_stale, unavailable
 * past it, invalid record), from the cache or from Redis, and when Redis is asked again.
 *
 * A binary of its own (test_tenant_store.c runs the real client against a closed port): here the
 * Redis client is replaced at link level (under the standalone redis_cluster.c, which hands
 * every command to it). This file defines sc_redis_client_create, _destroy, _is_ready, _add_stats and
 * sc_redis_client_command, so the linker does not take redis_client.c's (a clash would
 * fail the link). The fake records each HGETALL and the test answers it with a reply it builds,
 * or with an error, or refuses the command. Time is the loop's clock, which h2o_now reads and
 * only h2o_evloop_run updates: the loop never runs here, so the test sets it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "tenant_store.h"

/* ------------------------------------------------------------------ the Redis client, faked */

struct sc_redis_client {
    const sc_redis_client_callbacks_t *callbacks;
    void *data;
    int subscriber;
};

static struct {
    int ready;  /* what sc_redis_client_is_ready says */
    int refuse; /* sc_redis_client_command fails at once */
    int sent;   /* commands sent */
    char key[256];
    sc_redis_reply_cb cb; /* the pending command (one at a time is all these tests need) */
    void *data;
    sc_redis_client_t *subscriber;
} fake;

sc_redis_client_t *sc_redis_client_create(h2o_evloop_t *loop, const sc_redis_config_t *config, const char *subscribe_channel,
                                          const sc_redis_client_callbacks_t *callbacks, void *data)
{
    sc_redis_client_t *c = calloc(1, sizeof(*c));
    c->callbacks = callbacks;
    c->data = data;
    c->subscriber = subscribe_channel != NULL;
    if (c->subscriber)
        fake.subscriber = c;
    return c;
}

void sc_redis_client_destroy(sc_redis_client_t *client)
{
    if (!client->subscriber && fake.cb != NULL) { /* as the real one: pending commands complete */
        sc_redis_reply_cb cb = fake.cb;
        fake.cb = NULL;
        cb(NULL, fake.data, "closed");
    }
    free(client);
}

int sc_redis_client_is_ready(const sc_redis_client_t *client)
{
    return fake.ready;
}

void sc_redis_client_add_stats(const sc_redis_client_t *client, sc_redis_client_stats_t *sum)
{
    sum->connects += 7; /* recognisable: the store adds its command connection's counters */
}

int sc_redis_client_command(sc_redis_client_t *client, sc_redis_reply_cb cb, void *data, int argc, const char **argv,
                            const size_t *argvlen)
{
    if (fake.refuse)
        return -1;
    assert_null(fake.cb);
    assert_int_equal(argc, 2);
    assert_string_equal(argv[0], "HGETALL");
    snprintf(fake.key, sizeof(fake.key), "%.*s", (int)argvlen[1], argv[1]);
    ++fake.sent;
    fake.cb = cb;
    fake.data = data;
    return 0;
}

/* Redis answers the pending HGETALL with these field/value strings (NULL-terminated). */
static void redis_answers_fields(const char *first, ...)
{
    redisReply strings[32], *elements[32];
    size_t n = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s != NULL; s = va_arg(ap, const char *), ++n) {
        strings[n] = (redisReply){.type = REDIS_REPLY_STRING, .str = (char *)s, .len = strlen(s)};
        elements[n] = &strings[n];
    }
    va_end(ap);
    redisReply reply = {.type = REDIS_REPLY_ARRAY, .elements = n, .element = elements};
    sc_redis_reply_cb cb = fake.cb;
    assert_non_null(cb);
    fake.cb = NULL;
    cb(&reply, fake.data, NULL);
}

static void redis_answers_reply(redisReply *reply, const char *err)
{
    sc_redis_reply_cb cb = fake.cb;
    assert_non_null(cb);
    fake.cb = NULL;
    cb(reply, fake.data, err);
}

/* ------------------------------------------------------------------ the store */

#define TTL_MS 1000
#define NEGATIVE_TTL_MS 200
#define MAX_STALE_MS 5000
#define ACTIVE "status", "active", "services", "langchain", "scopes", "read"

static h2o_evloop_t *loop;
static sc_redis_config_t redis_config = {.url = "redis://127.0.0.1:6379/0", .host = "127.0.0.1", .port = 6379, .prefix = "ps:"};
static sc_tenant_store_t *store;

static int setup(void **state)
{
    (void)state;
    memset(&fake, 0, sizeof(fake));
    fake.ready = 1;
    loop = h2o_evloop_create();
    loop->_now = 1000000; /* never run: the tests move the clock */
    sc_tenant_store_config_t config = {.ttl_ms = TTL_MS,
                                       .negative_ttl_ms = NEGATIVE_TTL_MS,
                                       .max_stale_ms = MAX_STALE_MS,
                                       .max_entries = 64,
                                       .max_negative_entries = 16};
    store = sc_tenant_store_create(loop, &redis_config, &config);
    return store != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    sc_tenant_store_destroy(store);
    h2o_evloop_destroy(loop);
    return 0;
}

static void advance_ms(uint64_t ms)
{
    loop->_now += ms;
}

/* What the callback received. */
static struct {
    int calls;
    sc_lookup_t last;
} answered;

static void on_answer(void *data, sc_lookup_t result)
{
    ++answered.calls;
    if (answered.last.cached != NULL)
        h2o_mem_release_shared(answered.last.cached);
    answered.last = result;
}

static void forget_answer(void)
{
    if (answered.last.cached != NULL)
        h2o_mem_release_shared(answered.last.cached);
    memset(&answered, 0, sizeof(answered));
}

/* A lookup that must be answered at once; returns its result (the reference released). */
static sc_lookup_t sync_lookup(const char *tenant)
{
    sc_lookup_t r = {0};
    if (sc_tenant_store_get_tenant(store, tenant, strlen(tenant), on_answer, NULL, &r) != 1)
        fail_msg("%s: expected an answer at once", tenant);
    if (r.cached != NULL)
        h2o_mem_release_shared(r.cached);
    return r;
}

/* A lookup that must wait for Redis. */
static void async_lookup(const char *tenant)
{
    sc_lookup_t r = {0};
    int sent = fake.sent;
    if (sc_tenant_store_get_tenant(store, tenant, strlen(tenant), on_answer, NULL, &r) != 0)
        fail_msg("%s: expected to wait for Redis, got status %d", tenant, (int)r.status);
    assert_int_equal(fake.sent, sent + 1);
}

/* Found, then a cache hit: no second round trip until the TTL. */
static void test_found(void **state)
{
    (void)state;
    async_lookup("acme");
    assert_string_equal(fake.key, "ps:{acme}:tenant");
    assert_int_equal(answered.calls, 0);
    redis_answers_fields(ACTIVE, NULL);
    assert_int_equal(answered.calls, 1);
    assert_int_equal(answered.last.status, SC_LOOKUP_FOUND);
    assert_false(answered.last.stale);
    const sc_tenant_record_t *t = answered.last.cached->record;
    assert_string_equal(t->id, "acme");
    assert_int_equal(t->active, 1);
    forget_answer();

    advance_ms(TTL_MS - 1);
    sc_lookup_t r = sync_lookup("acme");
    assert_int_equal(r.status, SC_LOOKUP_FOUND);
    assert_false(r.stale);
    assert_int_equal(fake.sent, 1);
    assert_int_equal(sc_tenant_store_stats(store)->hits, 1);
    /* what /metrics sums: the store's counters, and its command connection's */
    sc_tenant_store_stats_t sum = {.hits = 10};
    sc_redis_client_stats_t redis = {0};
    sc_tenant_store_add_stats(store, &sum, &redis);
    assert_int_equal(sum.hits, 11);
    assert_int_equal(sum.misses, sc_tenant_store_stats(store)->misses);
    assert_int_equal(redis.connects, 7);

    advance_ms(1); /* the TTL is over: read again */
    async_lookup("acme");
    redis_answers_fields(ACTIVE, NULL);
    assert_int_equal(answered.last.status, SC_LOOKUP_FOUND);
    forget_answer();
}

/* Requests for the same record while it is fetched share the one HGETALL. */
static void test_concurrent_lookups_share_one_fetch(void **state)
{
    (void)state;
    async_lookup("acme");
    sc_lookup_t r = {0};
    assert_int_equal(sc_tenant_store_get_tenant(store, "acme", 4, on_answer, NULL, &r), 0);
    assert_int_equal(fake.sent, 1);
    redis_answers_fields(ACTIVE, NULL);
    assert_int_equal(answered.calls, 2);
    assert_int_equal(answered.last.status, SC_LOOKUP_FOUND);
    forget_answer();
}

/* Absent: remembered for negative_ttl, then asked again. */
static void test_not_found(void **state)
{
    (void)state;
    async_lookup("nobody");
    redis_answers_fields(NULL);
    assert_int_equal(answered.last.status, SC_LOOKUP_NOT_FOUND);
    assert_null(answered.last.cached);
    forget_answer();

    advance_ms(NEGATIVE_TTL_MS - 1);
    assert_int_equal(sync_lookup("nobody").status, SC_LOOKUP_NOT_FOUND);
    assert_int_equal(fake.sent, 1);
    advance_ms(1);
    async_lookup("nobody");
    redis_answers_fields(NULL);
    forget_answer();
}

/* Past the TTL, within max_stale, Redis down: the record is served at once, marked stale; and
 * when Redis is up but fails the read, the waiting request gets the stale record too. */
static void test_stale_within_max_stale(void **state)
{
    (void)state;
    async_lookup("acme");
    redis_answers_fields(ACTIVE, NULL);
    forget_answer();

    advance_ms(MAX_STALE_MS - 1);
    fake.ready = 0;
    sc_lookup_t r = sync_lookup("acme");
    assert_int_equal(r.status, SC_LOOKUP_FOUND);
    assert_true(r.stale);
    assert_int_equal(fake.sent, 1); /* no wait, no command: Redis is known to be down */
    assert_int_equal(sc_tenant_store_stats(store)->stale_served, 1);

    fake.ready = 1;
    async_lookup("acme");
    redis_answers_reply(NULL, "timeout");
    assert_int_equal(answered.last.status, SC_LOOKUP_FOUND);
    assert_true(answered.last.stale);
    assert_int_equal(sc_tenant_store_stats(store)->stale_served, 2);
    forget_answer();
}

/* Connected, but the client refuses the command at once: a record within max_stale still serves. */
static void test_stale_when_the_command_is_refused(void **state)
{
    (void)state;
    async_lookup("acme");
    redis_answers_fields(ACTIVE, NULL);
    forget_answer();

    advance_ms(MAX_STALE_MS - 1);
    fake.refuse = 1;
    sc_lookup_t r = sync_lookup("acme");
    assert_int_equal(r.status, SC_LOOKUP_FOUND);
    assert_true(r.stale);
    fake.refuse = 0;
}

/* Past max_stale, or never read: "unavailable" (the pipeline fails closed), never "not found". */
static void test_unavailable_past_max_stale(void **state)
{
    (void)state;
    async_lookup("acme");
    redis_answers_fields(ACTIVE, NULL);
    forget_answer();

    advance_ms(MAX_STALE_MS);
    fake.ready = 0;
    sc_lookup_t r = {0};
    assert_int_equal(sc_tenant_store_get_tenant(store, "acme", 4, NULL, NULL, &r), 0); /* not answerable without waiting */
    async_lookup("acme");                                                              /* the command waits for the connection... */
    redis_answers_reply(NULL, "not connected");                                        /* ...which does not come back in time */
    assert_int_equal(answered.last.status, SC_LOOKUP_UNAVAILABLE);
    assert_null(answered.last.cached);
    forget_answer();

    fake.refuse = 1; /* the client refuses the command at once */
    r = sync_lookup("acme");
    assert_int_equal(r.status, SC_LOOKUP_UNAVAILABLE);
    r = sync_lookup("never-seen");
    assert_int_equal(r.status, SC_LOOKUP_UNAVAILABLE);
    assert_int_equal(sc_tenant_store_stats(store)->unavailable, 3);
}

/* A malformed record is "invalid" (the pipeline answers 503 record_invalid) and is not kept:
 * the next lookup reads it again. */
static void test_invalid_record(void **state)
{
    (void)state;
    async_lookup("acme");
    redis_answers_fields("status", "enabled", NULL); /* no such status */
    assert_int_equal(answered.last.status, SC_LOOKUP_INVALID);
    assert_null(answered.last.cached);
    forget_answer();

    async_lookup("acme");
    redis_answers_fields("status", "active", "services", NULL); /* a field without its value */
    assert_int_equal(answered.last.status, SC_LOOKUP_INVALID);
    forget_answer();

    async_lookup("acme");
    redisReply number = {.type = REDIS_REPLY_INTEGER, .integer = 1},
               status = {.type = REDIS_REPLY_STRING, .str = "status", .len = 6};
    redisReply *elements[] = {&status, &number};
    redisReply array = {.type = REDIS_REPLY_ARRAY, .elements = 2, .element = elements};
    redis_answers_reply(&array, NULL); /* a value that is not a string */
    assert_int_equal(answered.last.status, SC_LOOKUP_INVALID);
    forget_answer();

    async_lookup("acme");
    redisReply wrong = {.type = REDIS_REPLY_STATUS, .str = "OK", .len = 2};
    redis_answers_reply(&wrong, NULL); /* not HGETALL's reply at all: Redis did not answer the question */
    assert_int_equal(answered.last.status, SC_LOOKUP_UNAVAILABLE);
    forget_answer();
    assert_int_equal(fake.sent, 4);
}

/* An invalidation drops the record: the next lookup reads Redis at once, TTL or not. */
static void test_invalidation_drops_the_record(void **state)
{
    (void)state;
    async_lookup("acme");
    redis_answers_fields(ACTIVE, NULL);
    forget_answer();
    assert_int_equal(sync_lookup("acme").status, SC_LOOKUP_FOUND);
    sc_tenant_store_invalidate(store, "tenant acme", 11);
    async_lookup("acme");
    redis_answers_fields("status", "suspended", NULL);
    const sc_tenant_record_t *t = answered.last.cached->record;
    assert_int_equal(t->active, 0);
    forget_answer();
}

/* After the subscription is made again, invalidations may have been missed: a cached record is
 * still served (stale) but read again in the background. */
static void test_resubscription_revalidates(void **state)
{
    (void)state;
    async_lookup("acme");
    redis_answers_fields(ACTIVE, NULL);
    forget_answer();
    fake.subscriber->callbacks->on_ready(fake.subscriber, fake.subscriber->data);
    sc_lookup_t r = sync_lookup("acme");
    assert_int_equal(r.status, SC_LOOKUP_FOUND);
    assert_true(r.stale);
    assert_int_equal(fake.sent, 2); /* the background read */
    redis_answers_fields(ACTIVE, NULL);
    assert_int_equal(answered.calls, 0); /* nobody waited for it */
    r = sync_lookup("acme");
    assert_false(r.stale);
    assert_int_equal(fake.sent, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_lookups_share_one_fetch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_within_max_stale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_when_the_command_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unavailable_past_max_stale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalidation_drops_the_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resubscription_revalidates, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
