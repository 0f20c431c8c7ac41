/* Redis Cluster arithmetic: CRC16 and hash-tag slots against the cluster specification's
 * vectors, and the MOVED/ASK error replies a node answers with. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "cluster_slot.h"

static unsigned slot(const char *key)
{
    return sc_cluster_slot_of(key, strlen(key));
}

static void test_crc16_vector(void **state)
{
    (void)state;
    /* the specification's check value for CRC16-XMODEM */
    assert_int_equal(sc_cluster_slot_crc16("123456789", 9), 0x31C3);
    assert_int_equal(sc_cluster_slot_crc16("", 0), 0);
}

static void test_slots_of_known_keys(void **state)
{
    (void)state;
    /* values CLUSTER KEYSLOT gives on Redis 7 */
    assert_int_equal(slot("123456789"), 12739); /* 0x31C3 mod 16384 */
    assert_int_equal(slot("foo"), 12182);
    assert_int_equal(slot("bar"), 5061);
    assert_int_equal(slot("user1000"), 3443);
    assert_int_equal(slot("{user1000}.following"), 3443);
}

static void test_hash_tags(void **state)
{
    (void)state;
    /* the specification's examples */
    assert_int_equal(slot("{user1000}.following"), slot("{user1000}.followers"));
    assert_int_equal(slot("foo{}{bar}"), sc_cluster_slot_crc16("foo{}{bar}", 10) & 16383); /* "{}": the whole key */
    assert_int_equal(slot("foo{{bar}}zap"), sc_cluster_slot_crc16("{bar", 4) & 16383);
    assert_int_equal(slot("foo{bar}{zap}"), slot("bar"));
    assert_int_equal(slot("no closing {brace"), sc_cluster_slot_crc16("no closing {brace", 17) & 16383);
    /* every key of one tenant is in the tenant's slot */
    assert_int_equal(slot("ps:{acme}:tenant"), slot("acme"));
    assert_int_equal(slot("ps:{acme}:key:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), slot("acme"));
    assert_int_equal(slot("ps:{acme}:rl:tools"), slot("acme"));
    assert_int_equal(slot("ps:{acme}:quota:20260101"), slot("acme"));
    /* a key taken by length, not up to a NUL */
    assert_int_equal(sc_cluster_slot_of("{acme}xyz", 6), slot("acme"));
}

static void test_parse_redirects(void **state)
{
    (void)state;
    sc_cluster_redirect_t r;
    const char *moved = "MOVED 3999 127.0.0.1:6381";
    assert_int_equal(sc_cluster_slot_parse_redirect(moved, strlen(moved), &r), 0);
    assert_int_equal(r.kind, SC_CLUSTER_REDIRECT_MOVED);
    assert_int_equal(r.slot, 3999);
    assert_string_equal(r.host, "127.0.0.1");
    assert_int_equal(r.port, 6381);

    const char *ask = "ASK 16383 10.0.0.7:7002";
    assert_int_equal(sc_cluster_slot_parse_redirect(ask, strlen(ask), &r), 0);
    assert_int_equal(r.kind, SC_CLUSTER_REDIRECT_ASK);
    assert_int_equal(r.slot, 16383);
    assert_string_equal(r.host, "10.0.0.7");
    assert_int_equal(r.port, 7002);

    /* Redis 7 leaves the host out when it is the one the client spoke to */
    const char *no_host = "MOVED 0 :6381";
    assert_int_equal(sc_cluster_slot_parse_redirect(no_host, strlen(no_host), &r), 0);
    assert_string_equal(r.host, "");
    assert_int_equal(r.port, 6381);

    const char *v6 = "MOVED 12 ::1:7000";
    assert_int_equal(sc_cluster_slot_parse_redirect(v6, strlen(v6), &r), 0);
    assert_string_equal(r.host, "::1");
    assert_int_equal(r.port, 7000);
}

static void test_parse_not_redirects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "NOSCRIPT No matching script. Please use EVAL.",
        "ERR unknown command",
        "TRYAGAIN Multiple keys request during rehashing of slot",
        "MOVED",
        "MOVED ",
        "MOVED 3999",
        "MOVED 3999 ",
        "MOVED 3999 127.0.0.1",
        "MOVED 3999 127.0.0.1:",
        "MOVED 3999 127.0.0.1:0",
        "MOVED 3999 127.0.0.1:65536",
        "MOVED 3999 127.0.0.1:63x",
        "MOVED 16384 127.0.0.1:6381",
        "MOVED -1 127.0.0.1:6381",
        "MOVED x 127.0.0.1:6381",
        "ASK 1  127.0.0.1:6381x",
        "moved 1 127.0.0.1:6381",
        "MOVED 1 0123456789012345678901234567890123456789012345678901234567890123456789:1",
    };
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        sc_cluster_redirect_t r;
        if (sc_cluster_slot_parse_redirect(bad[i], strlen(bad[i]), &r) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(r.kind, SC_CLUSTER_REDIRECT_NONE);
    }
    /* taken by length: what follows is not read */
    sc_cluster_redirect_t r;
    assert_int_equal(sc_cluster_slot_parse_redirect("ASK 5 127.0.0.1:70", 17, &r), 0);
    assert_int_equal(r.port, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc16_vector),    cmocka_unit_test(test_slots_of_known_keys), cmocka_unit_test(test_hash_tags),
        cmocka_unit_test(test_parse_redirects), cmocka_unit_test(test_parse_not_redirects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
