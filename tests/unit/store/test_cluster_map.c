/* The slot map of a Redis Cluster: CLUSTER SLOTS replies (well-formed, with hosts left out or
 * not numeric, malformed), MOVED corrections, node indexes that stay put. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "cluster_map.h"

/* A reply built on the stack: [[start, end, [host, port, id]], ...] */
typedef struct {
    redisReply top, entries[4], start[4], end[4], master[4], host[4], port[4], id[4];
    redisReply *entry_ptrs[4], *fields[4][3], *master_fields[4][3];
} slots_reply_t;

static void add_entry(slots_reply_t *r, long long start, long long end, const char *host, long long port)
{
    size_t i = r->top.elements++;
    r->start[i] = (redisReply){.type = REDIS_REPLY_INTEGER, .integer = start};
    r->end[i] = (redisReply){.type = REDIS_REPLY_INTEGER, .integer = end};
    r->host[i] = (redisReply){.type = REDIS_REPLY_STRING, .str = (char *)host, .len = strlen(host)};
    r->port[i] = (redisReply){.type = REDIS_REPLY_INTEGER, .integer = port};
    r->id[i] = (redisReply){.type = REDIS_REPLY_STRING, .str = "0123abcd", .len = 8};
    r->master_fields[i][0] = &r->host[i], r->master_fields[i][1] = &r->port[i], r->master_fields[i][2] = &r->id[i];
    r->master[i] = (redisReply){.type = REDIS_REPLY_ARRAY, .elements = 3, .element = r->master_fields[i]};
    r->fields[i][0] = &r->start[i], r->fields[i][1] = &r->end[i], r->fields[i][2] = &r->master[i];
    r->entries[i] = (redisReply){.type = REDIS_REPLY_ARRAY, .elements = 3, .element = r->fields[i]};
    r->entry_ptrs[i] = &r->entries[i];
    r->top.type = REDIS_REPLY_ARRAY;
    r->top.element = r->entry_ptrs;
}

static void test_load_three_masters(void **state)
{
    (void)state;
    static sc_cluster_map_t map;
    slots_reply_t r = {0};
    sc_cluster_map_init(&map);
    assert_int_equal(sc_cluster_map_node(&map, "127.0.0.1", 7000), 0); /* the seed */
    add_entry(&r, 0, 5460, "127.0.0.1", 7000);
    add_entry(&r, 5461, 10922, "127.0.0.1", 7001);
    add_entry(&r, 10923, 16383, "", 7002); /* Redis 7: the host of the node that replied */
    assert_int_equal(sc_cluster_map_load(&map, &r.top, "127.0.0.1"), 16384);
    assert_int_equal(map.num_nodes, 3);
    assert_int_equal(sc_cluster_map_lookup(&map, 0), 0);
    assert_int_equal(sc_cluster_map_lookup(&map, 5461), 1);
    assert_int_equal(sc_cluster_map_lookup(&map, 16383), 2);
    assert_string_equal(map.nodes[2].host, "127.0.0.1");
    assert_int_equal(map.nodes[2].port, 7002);
    assert_int_equal(sc_cluster_map_lookup(&map, 16384), -1);

    /* a MOVED moves one slot; the node list only grows, so indexes stay valid */
    sc_cluster_redirect_t moved = {SC_CLUSTER_REDIRECT_MOVED, 42, "127.0.0.1", 7003};
    assert_int_equal(sc_cluster_map_moved(&map, &moved, "127.0.0.1"), 3);
    assert_int_equal(sc_cluster_map_lookup(&map, 42), 3);
    assert_int_equal(sc_cluster_map_lookup(&map, 43), 0);
    sc_cluster_redirect_t back = {SC_CLUSTER_REDIRECT_MOVED, 42, "", 7000};
    assert_int_equal(sc_cluster_map_moved(&map, &back, "127.0.0.1"), 0);
    assert_int_equal(sc_cluster_map_node(&map, "127.0.0.1", 7001), 1);
}

static void test_unusable_hosts_leave_slots_unknown(void **state)
{
    (void)state;
    static sc_cluster_map_t map;
    slots_reply_t r = {0};
    sc_cluster_map_init(&map);
    add_entry(&r, 0, 99, "redis-a.internal", 7000); /* a name: no DNS on the event loop */
    add_entry(&r, 100, 199, "::1", 7001);
    assert_int_equal(sc_cluster_map_load(&map, &r.top, "127.0.0.1"), 100);
    assert_int_equal(sc_cluster_map_lookup(&map, 5), -1);
    assert_int_equal(sc_cluster_map_lookup(&map, 150), 0);
    assert_string_equal(map.nodes[0].host, "::1");
    assert_int_equal(sc_cluster_map_lookup(&map, 200), -1);
}

static void test_malformed_replies_change_nothing(void **state)
{
    (void)state;
    static sc_cluster_map_t map;
    sc_cluster_map_init(&map);
    slots_reply_t good = {0};
    add_entry(&good, 0, 16383, "10.0.0.1", 6379);
    assert_int_equal(sc_cluster_map_load(&map, &good.top, "10.0.0.1"), 16384);

    redisReply error = {.type = REDIS_REPLY_ERROR, .str = "ERR This instance has cluster support disabled", .len = 46};
    assert_int_equal(sc_cluster_map_load(&map, &error, "10.0.0.1"), -1);
    assert_int_equal(sc_cluster_map_load(&map, NULL, "10.0.0.1"), -1);
    static const long long ranges[][3] = {{-1, 5, 6379}, {5, 4, 6379}, {0, 16384, 6379}, {0, 5, 0}, {0, 5, 65536}};
    for (size_t i = 0; i != sizeof(ranges) / sizeof(ranges[0]); ++i) {
        slots_reply_t bad = {0};
        add_entry(&bad, ranges[i][0], ranges[i][1], "10.0.0.2", ranges[i][2]);
        assert_int_equal(sc_cluster_map_load(&map, &bad.top, "10.0.0.1"), -1);
    }
    slots_reply_t short_entry = {0};
    add_entry(&short_entry, 0, 5, "10.0.0.2", 6379);
    short_entry.entries[0].elements = 2;
    assert_int_equal(sc_cluster_map_load(&map, &short_entry.top, "10.0.0.1"), -1);
    /* still the good map */
    assert_int_equal(sc_cluster_map_lookup(&map, 16383), 0);
    assert_int_equal(map.num_nodes, 1);
}

static void test_full_map(void **state)
{
    (void)state;
    static sc_cluster_map_t map;
    char host[32];
    sc_cluster_map_init(&map);
    for (int i = 0; i != SC_CLUSTER_MAP_MAX_NODES; ++i) {
        snprintf(host, sizeof(host), "10.0.%d.%d", i / 200, i % 200 + 1);
        assert_int_equal(sc_cluster_map_node(&map, host, 6379), i);
    }
    assert_int_equal(sc_cluster_map_node(&map, "10.9.9.9", 6379), -1);
    assert_int_equal(sc_cluster_map_node(&map, "10.0.0.1", 6379), 0); /* known ones still found */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_three_masters),
        cmocka_unit_test(test_unusable_hosts_leave_slots_unknown),
        cmocka_unit_test(test_malformed_replies_change_nothing),
        cmocka_unit_test(test_full_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
