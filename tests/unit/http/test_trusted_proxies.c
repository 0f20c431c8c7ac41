/* Trusted proxies: CIDR parsing and matching (IPv4, IPv6, IPv4-mapped IPv6, bad input), the
 * client address in X-Forwarded-For, the X-Forwarded-For the backend receives, what is read
 * from a trusted peer's headers, and the host file's settings with the line and key of each
 * error. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "cidr.h"
#include "config.h"
#include "trusted_proxies.h"

#define HOST_FILE TEST_DATA_DIR "/host.yaml"

static h2o_mem_pool_t pool;

static int setup(void **state)
{
    (void)state;
    h2o_mem_init_pool(&pool);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h2o_mem_clear_pool(&pool);
    return 0;
}

static sc_cidr_t cidr(const char *text)
{
    char err[256] = "";
    sc_cidr_t c;
    if (sc_cidr_parse(text, &c, err, sizeof(err)) != 0)
        fail_msg("\"%s\" refused: %s", text, err);
    return c;
}

static sc_ip_t ip(const char *text)
{
    sc_ip_t out;
    assert_int_equal(sc_cidr_ip_parse(text, strlen(text), &out), 0);
    return out;
}

static int in(const char *range, const char *addr)
{
    sc_cidr_t c = cidr(range);
    sc_ip_t a = ip(addr);
    return sc_cidr_list_contains(&c, 1, &a);
}

static void test_ipv4_ranges(void **state)
{
    (void)state;
    assert_true(in("10.0.0.0/16", "10.0.0.0"));
    assert_true(in("10.0.0.0/16", "10.0.255.255"));
    assert_false(in("10.0.0.0/16", "10.1.0.0"));
    assert_false(in("10.0.0.0/16", "9.255.255.255"));
    assert_true(in("10.0.0.5", "10.0.0.5")); /* a lone address is a /32 */
    assert_false(in("10.0.0.5", "10.0.0.4"));
    assert_true(in("172.16.0.0/12", "172.31.1.1"));
    assert_false(in("172.16.0.0/12", "172.32.0.0"));
    assert_true(in("192.168.1.128/25", "192.168.1.200"));
    assert_false(in("192.168.1.128/25", "192.168.1.127"));
    assert_true(in("128.0.0.0/1", "200.1.1.1"));
    assert_false(in("128.0.0.0/1", "127.0.0.1"));
    assert_true(in("127.0.0.1/32", "127.0.0.1"));
    /* an IPv4 range is not an IPv6 one: ::a00:1 (IPv4-compatible, deprecated) is not 10.0.0.1 */
    assert_false(in("10.0.0.0/8", "::a00:1"));
    assert_false(in("10.0.0.0/8", "2001:db8::1"));
}

static void test_ipv6_ranges(void **state)
{
    (void)state;
    assert_true(in("fd00::/8", "fd12:3456::1"));
    assert_false(in("fd00::/8", "fe80::1"));
    assert_true(in("2001:db8::/32", "2001:db8:ffff::1"));
    assert_false(in("2001:db8::/32", "2001:db9::1"));
    assert_true(in("::1", "::1"));
    assert_false(in("::1", "::2"));
    assert_true(in("2001:db8::/127", "2001:db8::1"));
    assert_false(in("2001:db8::/127", "2001:db8::2"));
    assert_false(in("fd00::/8", "10.0.0.1"));
}

/* A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d: the same address either way. */
static void test_ipv4_mapped(void **state)
{
    (void)state;
    assert_true(in("10.0.0.0/8", "::ffff:10.1.2.3"));
    assert_false(in("10.0.0.0/8", "::ffff:11.1.2.3"));
    assert_true(in("::ffff:10.0.0.0/104", "10.9.9.9"));
    assert_false(in("::ffff:10.0.0.0/104", "11.0.0.0"));
    assert_true(in("::ffff:0:0/96", "1.2.3.4")); /* all of IPv4 */

    sc_cidr_t c = cidr("10.0.0.0/8");
    struct sockaddr_in sin = {.sin_family = AF_INET};
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
    sc_ip_t a;
    inet_pton(AF_INET, "10.20.30.40", &sin.sin_addr);
    inet_pton(AF_INET6, "::ffff:10.20.30.40", &sin6.sin6_addr);
    assert_int_equal(sc_cidr_ip_from_sockaddr((struct sockaddr *)&sin, &a), 0);
    assert_true(sc_cidr_list_contains(&c, 1, &a));
    assert_int_equal(sc_cidr_ip_from_sockaddr((struct sockaddr *)&sin6, &a), 0);
    assert_true(sc_cidr_list_contains(&c, 1, &a));
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    assert_int_equal(sc_cidr_ip_from_sockaddr((struct sockaddr *)&sun, &a), -1);
}

static void test_bad_ranges(void **state)
{
    (void)state;
    static const struct {
        const char *text, *expected;
    } bad[] = {
        {"10.0.0.1/16", "has bits set past the prefix /16"},
        {"fd00::1/8", "has bits set past the prefix /8"},
        {"10.0.0.0/33", "the prefix length must be 0 to 32"},
        {"fd00::/129", "the prefix length must be 0 to 128"},
        {"10.0.0.0/", "the prefix length"},
        {"10.0.0.0/-1", "the prefix length"},
        {"10.0.0.0/+8", "the prefix length"},
        {"10.0.0.0/8a", "the prefix length"},
        {"10.0.0.0/0008", "the prefix length"},
        {"10.0.0.0/8/8", "the prefix length"},
        {"0.0.0.0/0", "would trust every address"},
        {"::/0", "would trust every address"},
        {"10.0.0", "is not an IPv4 or IPv6 address"},
        {"10.0.0.0.0", "is not an IPv4 or IPv6 address"},
        {"010.0.0.0/8", "is not an IPv4 or IPv6 address"},
        {"256.0.0.0/8", "is not an IPv4 or IPv6 address"},
        {"fe80::1%eth0", "is not an IPv4 or IPv6 address"},
        {"[::1]", "is not an IPv4 or IPv6 address"},
        {"vpc.example.com/16", "is not an IPv4 or IPv6 address"},
        {"", "is not an IPv4 or IPv6 address"},
        {"/8", "is not an IPv4 or IPv6 address"},
        {" 10.0.0.0/8", "is not an IPv4 or IPv6 address"},
        {"1111:2222:3333:4444:5555:6666:7777:8888:9999", "is not an IPv4 or IPv6 address"},
    };
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        char err[256] = "";
        sc_cidr_t c;
        if (sc_cidr_parse(bad[i].text, &c, err, sizeof(err)) == 0 || strstr(err, bad[i].expected) == NULL)
            fail_msg("\"%s\": expected an error containing \"%s\", got \"%s\"", bad[i].text, bad[i].expected, err);
    }
}

static sc_trusted_proxies_t proxies(sc_cidr_t *list, size_t n)
{
    return (sc_trusted_proxies_t){.cidrs = list, .num_cidrs = n};
}

static void assert_client(const sc_trusted_proxies_t *tp, const char *chain, const char *expected)
{
    h2o_iovec_t got = sc_trusted_proxies_xff_client(tp, h2o_iovec_init(chain, strlen(chain)));
    if (expected == NULL) {
        if (got.len != 0)
            fail_msg("\"%s\": expected no client, got \"%.*s\"", chain, (int)got.len, got.base);
        return;
    }
    if (got.len != strlen(expected) || memcmp(got.base, expected, got.len) != 0)
        fail_msg("\"%s\": expected \"%s\", got \"%.*s\"", chain, expected, (int)got.len, got.base);
}

/* The client is the right-most entry not itself trusted: what a client writes to the left of it
 * proves nothing. */
static void test_client_is_the_rightmost_untrusted_entry(void **state)
{
    (void)state;
    sc_cidr_t list[] = {cidr("10.0.0.0/8"), cidr("fd00::/8")};
    sc_trusted_proxies_t tp = proxies(list, 2), none = proxies(NULL, 0);
    assert_client(&none, "1.2.3.4", "1.2.3.4");
    assert_client(&none, "6.6.6.6, 1.2.3.4", "1.2.3.4"); /* the forged left entry is ignored */
    assert_client(&none, "10.0.0.9, 1.2.3.4", "1.2.3.4");
    assert_client(&tp, "1.2.3.4, 10.0.0.9", "1.2.3.4"); /* a trusted hop is skipped */
    assert_client(&tp, "6.6.6.6, 1.2.3.4, 10.0.0.9, fd00::7", "1.2.3.4");
    assert_client(&tp, "10.0.0.1, 10.0.0.2", "10.0.0.1"); /* all trusted: the left-most */
    assert_client(&tp, " 1.2.3.4 ,, \t", "1.2.3.4");      /* spaces and empty entries */
    assert_client(&tp, "1.2.3.4:5678", "1.2.3.4");
    assert_client(&tp, "[2001:db8::1]:443", "2001:db8::1");
    assert_client(&tp, "[2001:db8::1]", "2001:db8::1");
    assert_client(&tp, "2001:db8::1", "2001:db8::1");
    assert_client(&tp, "[fd00::1]:80, 10.0.0.1", "fd00::1"); /* trusted too: the left-most, without brackets or port */
    assert_client(&tp, "garbage, 1.2.3.4", "1.2.3.4");
    assert_client(&tp, "1.2.3.4, garbage", NULL); /* not an address: nothing to vouch for */
    assert_client(&tp, "1.2.3.4, unknown", NULL);
    assert_client(&tp, "1.2.3.4:99999", NULL);
    assert_client(&tp, "[2001:db8::1", NULL);
    assert_client(&tp, "1.2.3.4\"", NULL);
    assert_client(&tp, "", NULL);
    assert_client(&tp, ",", NULL);
}

static void test_xff_append(void **state)
{
    (void)state;
    h2o_iovec_t peer = h2o_iovec_init(H2O_STRLIT("127.0.0.1"));
    h2o_iovec_t v = sc_trusted_proxies_xff_append(&pool, h2o_iovec_init(H2O_STRLIT("1.2.3.4")), peer);
    assert_int_equal(v.len, strlen("1.2.3.4, 127.0.0.1"));
    assert_memory_equal(v.base, "1.2.3.4, 127.0.0.1", v.len);
    v = sc_trusted_proxies_xff_append(&pool, h2o_iovec_init(NULL, 0), peer);
    assert_int_equal(v.len, peer.len);
    assert_memory_equal(v.base, "127.0.0.1", v.len);
}

static void add(h2o_headers_t *h, const char *name, const char *value)
{
    h2o_add_header_by_str(&pool, h, name, strlen(name), 1, NULL, value, strlen(value));
}

static void assert_iov(h2o_iovec_t v, const char *expected)
{
    if (expected == NULL) {
        assert_int_equal(v.len, 0);
        return;
    }
    if (v.len != strlen(expected) || memcmp(v.base, expected, v.len) != 0)
        fail_msg("expected \"%s\", got \"%.*s\"", expected, (int)v.len, v.base);
}

static void test_read_headers(void **state)
{
    (void)state;
    sc_cidr_t list[] = {cidr("10.0.0.0/8")};
    char name[] = "x-amzn-requestid";
    sc_trusted_proxies_t tp = {.cidrs = list, .num_cidrs = 1, .request_id_header = name};
    sc_forwarded_t fw;

    h2o_headers_t h = {0};
    add(&h, "x-forwarded-for", "6.6.6.6");
    add(&h, "accept", "*/*");
    add(&h, "x-forwarded-for", " 1.2.3.4, 10.0.0.3 ");
    add(&h, "x-forwarded-proto", "https");
    add(&h, "x-amzn-trace-id", "Root=forged");
    add(&h, "x-amzn-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1");
    add(&h, "X-Amzn-RequestId", "c6af9ac6-7b61-11e6-9a41-93e8deadbeef");
    sc_trusted_proxies_read_headers(&tp, &pool, &h, &fw);
    assert_iov(fw.chain, "6.6.6.6, 1.2.3.4, 10.0.0.3"); /* copies are one list, in order */
    assert_iov(fw.client, "1.2.3.4");
    assert_iov(fw.proto, "https");
    assert_iov(fw.trace_id, "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"); /* the nearest hop's */
    assert_iov(fw.request_id, "c6af9ac6-7b61-11e6-9a41-93e8deadbeef");

    /* X-Forwarded-Proto is kept only when it is one copy of http or https */
    h2o_headers_t two = {0}, odd = {0}, none = {0};
    add(&two, "x-forwarded-proto", "https");
    add(&two, "x-forwarded-proto", "http");
    sc_trusted_proxies_read_headers(&tp, &pool, &two, &fw);
    assert_iov(fw.proto, NULL);
    add(&odd, "x-forwarded-proto", "javascript");
    sc_trusted_proxies_read_headers(&tp, &pool, &odd, &fw);
    assert_iov(fw.proto, NULL);
    sc_trusted_proxies_read_headers(&tp, &pool, &none, &fw);
    assert_iov(fw.chain, NULL);
    assert_iov(fw.client, NULL);
    assert_iov(fw.proto, NULL);
    assert_iov(fw.trace_id, NULL);
    assert_iov(fw.request_id, NULL);
    tp.request_id_header = NULL; /* not configured: not read */
    sc_trusted_proxies_read_headers(&tp, &pool, &h, &fw);
    assert_iov(fw.request_id, NULL);
}

static void test_trust(void **state)
{
    (void)state;
    sc_cidr_t list[] = {cidr("127.0.0.1/32")};
    struct sockaddr_in local = {.sin_family = AF_INET}, other = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &local.sin_addr);
    inet_pton(AF_INET, "127.0.0.2", &other.sin_addr);
    sc_trusted_proxies_t tp = proxies(list, 1), nobody = proxies(NULL, 0);
    assert_true(sc_trusted_proxies_trust(&tp, (struct sockaddr *)&local, 0));
    assert_false(sc_trusted_proxies_trust(&tp, (struct sockaddr *)&other, 0));
    assert_false(sc_trusted_proxies_trust(&tp, NULL, 0));
    assert_false(sc_trusted_proxies_trust(&nobody, (struct sockaddr *)&local, 1)); /* client_cert not set */
    tp.client_cert = 1;
    assert_true(sc_trusted_proxies_trust(&tp, (struct sockaddr *)&other, 1));
    assert_false(sc_trusted_proxies_trust(&tp, (struct sockaddr *)&other, 0));
}

/* ------------------------------------------------------------------ the host file */

#define REDIS "redis: {url: 'redis://127.0.0.1'}\n"
#define SVC                                                                                                                        \
    "services:\n"                                                                                                                  \
    "  - name: a\n"                                                                                                                \
    "    listen: 127.0.0.1:8500\n"                                                                                                 \
    "    upstream: http://127.0.0.1:5000\n"                                                                                        \
    "    policy: ok-policy.yaml\n"

static sc_config_t *load(const char *text, char *err, size_t errsize)
{
    return sc_config_load_string(text, strlen(text), HOST_FILE, err, errsize);
}

static void test_host_file(void **state)
{
    (void)state;
    char err[1024] = "";
    sc_config_t *c = load(REDIS "trusted_proxies:\n"
                                "  cidrs: [10.0.0.0/16, 'fd00::/8', 127.0.0.1]\n"
                                "request_id_header: X-Amzn-RequestId\n" SVC,
                          err, sizeof(err));
    if (c == NULL)
        fail_msg("%s", err);
    assert_int_equal(c->trusted_proxies.num_cidrs, 3);
    assert_int_equal(c->trusted_proxies.cidrs[0].prefix, 96 + 16);
    assert_int_equal(c->trusted_proxies.cidrs[1].prefix, 8);
    assert_int_equal(c->trusted_proxies.cidrs[2].prefix, 128);
    assert_false(c->trusted_proxies.client_cert);
    assert_string_equal(c->trusted_proxies.request_id_header, "x-amzn-requestid");
    sc_config_free(c);

    c = load(REDIS SVC, err, sizeof(err)); /* the default: nobody is trusted */
    assert_non_null(c);
    assert_int_equal(c->trusted_proxies.num_cidrs, 0);
    assert_false(c->trusted_proxies.client_cert);
    assert_null(c->trusted_proxies.request_id_header);
    sc_config_free(c);
}

static void test_host_file_errors(void **state)
{
    (void)state;
    static const struct {
        const char *yaml, *expected;
    } bad[] = {
        {REDIS "trusted_proxies:\n  cidrs:\n    - 10.0.0.0/8\n    - 10.0.0.1/8\n" SVC,
         HOST_FILE ":5: trusted_proxies.cidrs[1]: \"10.0.0.1/8\" has bits set past the prefix /8"},
        {REDIS "trusted_proxies:\n  cidrs: [vpc]\n" SVC,
         HOST_FILE ":3: trusted_proxies.cidrs[0]: \"vpc\" is not an IPv4 or IPv6 address"},
        {REDIS "trusted_proxies:\n  cidrs: [0.0.0.0/0]\n" SVC, HOST_FILE ":3: trusted_proxies.cidrs[0]: \"0.0.0.0/0\" would trust"},
        {REDIS "trusted_proxies:\n  cidrs: 10.0.0.0/8\n" SVC, HOST_FILE ":3: trusted_proxies.cidrs: must be a list"},
        {REDIS "trusted_proxies:\n  cidrs: [[10.0.0.0/8]]\n" SVC, HOST_FILE ":3: trusted_proxies.cidrs[0]: must be an address"},
        {REDIS "trusted_proxies:\n  cidr: [10.0.0.0/8]\n" SVC, HOST_FILE ":3: trusted_proxies.cidr: unknown key"},
        {REDIS "trusted_proxies: {}\n" SVC, HOST_FILE ":2: trusted_proxies: names no peer"},
        {REDIS "trusted_proxies: {cidrs: []}\n" SVC, HOST_FILE ":2: trusted_proxies: names no peer"},
        {REDIS "trusted_proxies: 10.0.0.0/8\n" SVC, HOST_FILE ":2: trusted_proxies: must be a mapping"},
        {REDIS "trusted_proxies: {client_cert: maybe}\n" SVC, HOST_FILE ":2: trusted_proxies.client_cert: \"maybe\" is not true"},
        {REDIS "trusted_proxies: {client_cert: true}\n" SVC,
         HOST_FILE ":2: trusted_proxies.client_cert: no service asks for client certificates"},
        {REDIS "request_id_header: x-amzn-requestid\n" SVC,
         HOST_FILE ":2: request_id_header: is read from trusted peers only: configure trusted_proxies too"},
        {REDIS "trusted_proxies: {cidrs: [10.0.0.0/8]}\nrequest_id_header: Authorization\n" SVC,
         HOST_FILE ":3: request_id_header: \"Authorization\" carries credentials"},
        {REDIS "trusted_proxies: {cidrs: [10.0.0.0/8]}\nrequest_id_header: x_api_key\n" SVC,
         HOST_FILE ":3: request_id_header: \"x_api_key\" carries credentials"},
        {REDIS "trusted_proxies: {cidrs: [10.0.0.0/8]}\nrequest_id_header: \"x id\"\n" SVC,
         HOST_FILE ":3: request_id_header: \"x id\" is not a header name"},
    };
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        char err[1024] = "";
        sc_config_t *c = load(bad[i].yaml, err, sizeof(err));
        if (c != NULL || strstr(err, bad[i].expected) == NULL) {
            sc_config_free(c);
            fail_msg("case %zu: expected an error containing\n  %s\ngot\n  %s", i, bad[i].expected, c != NULL ? "(loaded)" : err);
        }
    }
}

/* Each request reads the configuration it started with: a reload may change whom to trust. */
static void test_reloadable(void **state)
{
    (void)state;
    char err[1024] = "";
    sc_config_t *a = load(REDIS SVC, err, sizeof(err));
    sc_config_t *b =
        load(REDIS "trusted_proxies: {cidrs: [10.0.0.0/8]}\nrequest_id_header: x-amzn-requestid\n" SVC, err, sizeof(err));
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(sc_config_check_reloadable(a, b, err, sizeof(err)), 0);
    assert_int_equal(sc_config_check_reloadable(b, a, err, sizeof(err)), 0);
    sc_config_free(a);
    sc_config_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_ranges),
        cmocka_unit_test(test_ipv6_ranges),
        cmocka_unit_test(test_ipv4_mapped),
        cmocka_unit_test(test_bad_ranges),
        cmocka_unit_test(test_client_is_the_rightmost_untrusted_entry),
        cmocka_unit_test(test_xff_append),
        cmocka_unit_test(test_read_headers),
        cmocka_unit_test(test_trust),
        cmocka_unit_test(test_host_file),
        cmocka_unit_test(test_host_file_errors),
        cmocka_unit_test(test_reloadable),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
