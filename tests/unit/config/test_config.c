/* Host configuration loader: valid files, and a table of invalid ones with the line and key
 * each error must name. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "config.h"

#define HOST_FILE TEST_DATA_DIR "/host.yaml"

static sc_config_t *load(const char *text, char *err, size_t errsize)
{
    return sc_config_load_string(text, strlen(text), HOST_FILE, err, errsize);
}

static void test_full_config(void **state)
{
    (void)state;
    char err[512] = "";
    sc_config_t *c = load("threads: 3\n"
                          "admin_listen: 127.0.0.1:9911\n"
                          "shutdown_grace_s: 5\n"
                          "client_send_timeout_s: 7\n"
                          "redis:\n"
                          "  url: redis://127.0.0.1:6380/2\n"
                          "  prefix: 'x:'\n"
                          "tenant_cache: {ttl_s: 10, negative_ttl_s: 2, max_stale_s: 60, max_entries: 1000}\n"
                          "services:\n"
                          "  - name: langchain\n"
                          "    listen: 127.0.0.1:8500\n"
                          "    upstream: http://localhost:5000/\n"
                          "    policy: ok-policy.yaml\n"
                          "    timeout_s: 29\n"
                          "    max_body_bytes: 1024\n"
                          "  - name: rag\n"
                          "    listen: '[::1]:8502'\n"
                          "    upstream: http://127.0.0.1:5002\n"
                          "    policy: " TEST_DATA_DIR "/ok-policy.yaml\n",
                          err, sizeof(err));
    assert_non_null(c);
    assert_string_equal(err, "");
    assert_int_equal(c->threads, 3);
    assert_int_equal(c->shutdown_grace_ms, 5000);
    assert_int_equal(c->client_send_timeout_ms, 7000);
    assert_int_equal(c->num_services, 2);
    const sc_service_t *lc = sc_config_find_service(c, "langchain");
    assert_non_null(lc);
    assert_string_equal(lc->upstream, "http://127.0.0.1:5000"); /* resolved once, at load */
    assert_int_equal(lc->timeout_ms, 29000);
    assert_int_equal(lc->max_body_bytes, 1024);
    assert_string_equal(lc->policy_file, TEST_DATA_DIR "/ok-policy.yaml");
    assert_non_null(lc->policy);
    assert_int_equal(lc->policy->num_routes, 2);
    assert_int_equal(ntohs(((struct sockaddr_in *)&lc->listen.ss)->sin_port), 8500);
    const sc_service_t *rag = sc_config_find_service(c, "rag");
    assert_int_equal(rag->listen.ss.ss_family, AF_INET6);
    assert_int_equal(rag->timeout_ms, 28000);                /* default: below API Gateway's 29 s */
    assert_int_equal(rag->max_body_bytes, 10 * 1024 * 1024); /* default */
    assert_null(sc_config_find_service(c, "grafana"));
    assert_non_null(c->redis);
    assert_string_equal(c->redis->host, "127.0.0.1");
    assert_int_equal(c->redis->port, 6380);
    assert_int_equal(c->redis->db, 2);
    assert_string_equal(c->redis->prefix, "x:");
    assert_int_equal(c->store.ttl_ms, 10000);
    assert_int_equal(c->store.negative_ttl_ms, 2000);
    assert_int_equal(c->store.max_stale_ms, 60000);
    assert_int_equal(c->store.max_entries, 1000);
    sc_config_free(c);
}

static void test_defaults(void **state)
{
    (void)state;
    char err[512];
    sc_config_t *c = load("redis: {url: 'redis://127.0.0.1'}\n"
                          "services:\n"
                          "  - name: a\n"
                          "    listen: 127.0.0.1:8500\n"
                          "    upstream: http://127.0.0.1:5000\n"
                          "    policy: ok-policy.yaml\n",
                          err, sizeof(err));
    assert_non_null(c);
    assert_true(c->threads >= 1);
    assert_string_equal(c->admin_listen.text, "127.0.0.1:9901");
    assert_int_equal(c->shutdown_grace_ms, 20000);
    assert_int_equal(c->client_send_timeout_ms, 60000); /* nginx's send_timeout */
    assert_int_equal(c->services[0].upstream_keepalive_ms, 1000);
    assert_int_equal(c->services[0].upstream_max_idle, 64);
    assert_int_equal(c->redis->port, 6379);
    assert_int_equal(c->redis->timeout_ms, 50);
    assert_int_equal(c->store.ttl_ms, 60000);
    assert_int_equal(c->store.max_stale_ms, 300000);
    sc_config_free(c);
}

#define SVC(extra)                                                                                                                 \
    "services:\n"                                                                                                                  \
    "  - name: a\n"                                                                                                                \
    "    listen: 127.0.0.1:8500\n"                                                                                                 \
    "    upstream: http://127.0.0.1:5000\n"                                                                                        \
    "    policy: ok-policy.yaml\n" extra

static const struct {
    const char *name;
    const char *yaml;
    const char *expected; /* the error must contain this */
} invalid[] = {
    {"unknown top-level key", "thread: 2\n" SVC(""), HOST_FILE ":1: thread: unknown key"},
    {"unknown service key", SVC("    upstrem: x\n"), HOST_FILE ":6: services[0].upstrem: unknown key"},
    {"threads not a number", "threads: two\n" SVC(""), HOST_FILE ":1: threads: \"two\" is not a whole number"},
    {"threads zero", "threads: 0\n" SVC(""), HOST_FILE ":1: threads: 0 is out of range"},
    {"client_send_timeout_s zero", "client_send_timeout_s: 0\n" SVC(""),
     HOST_FILE ":1: client_send_timeout_s: 0 is out of range [1, 3600]"},
    {"client_send_timeout_s too large", "client_send_timeout_s: 3601\n" SVC(""),
     HOST_FILE ":1: client_send_timeout_s: 3601 is out of range [1, 3600]"},
    {"client_send_timeout_s not a number", "threads: 1\nclient_send_timeout_s: abc\n" SVC(""),
     HOST_FILE ":2: client_send_timeout_s: \"abc\" is not a whole number"},
    {"negative timeout", SVC("    timeout_s: -1\n"), HOST_FILE ":6: services[0].timeout_s: \"-1\" is not a whole number"},
    {"upstream_max_idle too large", SVC("    upstream_max_idle: 10001\n"),
     HOST_FILE ":6: services[0].upstream_max_idle: 10001 is out of range"},
    {"upstream_max_idle not a number", SVC("    upstream_max_idle: many\n"),
     HOST_FILE ":6: services[0].upstream_max_idle: \"many\" is not a whole number"},
    {"no services", "threads: 1\n", HOST_FILE ":1: services: is required"},
    {"empty services", "services: []\n", HOST_FILE ":1: services: must list at least one service"},
    {"services not a list", "services: {a: 1}\n", HOST_FILE ":1: services: must be a list"},
    {"missing listen", "services:\n  - name: a\n    upstream: http://127.0.0.1:5000\n    policy: ok-policy.yaml\n",
     HOST_FILE ":2: services[0].listen: is required"},
    {"listen not numeric", "services:\n  - name: a\n    listen: localhost:80\n",
     HOST_FILE ":3: services[0].listen: \"localhost:80\""},
    {"empty admin_listen (fuzz_config)", "threads: 1\nadmin_listen:    #ml\n" SVC(""),
     HOST_FILE ":2: admin_listen: needs an IP:PORT"},
    {"listen without port", "services:\n  - name: a\n    listen: 127.0.0.1\n",
     HOST_FILE ":3: services[0].listen: \"127.0.0.1\" is not IP:PORT"},
    {"upstream https", "services:\n  - name: a\n    listen: 127.0.0.1:1\n    upstream: https://127.0.0.1:5000\n",
     HOST_FILE ":4: services[0].upstream: \"https://127.0.0.1:5000\" must start with http://"},
    {"upstream with path", "services:\n  - name: a\n    listen: 127.0.0.1:1\n    upstream: http://127.0.0.1:5000/api\n",
     HOST_FILE ":4: services[0].upstream: \"http://127.0.0.1:5000/api\" must be http://HOST:PORT, without a path"},
    {"upstream bad port", "services:\n  - name: a\n    listen: 127.0.0.1:1\n    upstream: http://127.0.0.1:99999\n",
     HOST_FILE ":4: services[0].upstream: \"http://127.0.0.1:99999\": bad port"},
    {"bad service name", "services:\n  - name: Lang Chain\n", HOST_FILE ":2: services[0].name: \"Lang Chain\" must be"},
    {"missing policy file",
     "services:\n  - name: a\n    listen: 127.0.0.1:1\n    upstream: http://127.0.0.1:2\n    policy: nope.yaml\n",
     TEST_DATA_DIR "/nope.yaml: cannot open"},
    {"invalid policy names the policy file",
     "services:\n  - name: a\n    listen: 127.0.0.1:1\n    upstream: http://127.0.0.1:2\n    policy: bad-policy.yaml\n",
     TEST_DATA_DIR "/bad-policy.yaml:5: routes[1].methods[1]: unknown method \"GIT\""},
    {"duplicate name",
     SVC("  - name: a\n    listen: 127.0.0.1:8501\n    upstream: http://127.0.0.1:5000\n    policy: ok-policy.yaml\n"),
     HOST_FILE ":6: services[1].name: \"a\" is already used by services[0]"},
    {"duplicate port",
     SVC("  - name: b\n    listen: 127.0.0.1:8500\n    upstream: http://127.0.0.1:5000\n    policy: ok-policy.yaml\n"),
     HOST_FILE ":6: services[1].listen: 127.0.0.1:8500 is already used by services[0]"},
    {"listen on admin port", "admin_listen: 127.0.0.1:8500\n" SVC(""),
     HOST_FILE ":3: services[0].listen: 127.0.0.1:8500 is also the admin_listen"},
    {"body too large", SVC("    max_body_bytes: 99999999999\n"),
     HOST_FILE ":6: services[0].max_body_bytes: 99999999999 is out of range"},
    {"duplicate key", "threads: 1\nthreads: 2\n", HOST_FILE ":2: threads: duplicate key"},
    {"yaml syntax", "services: [\n", HOST_FILE ":2: invalid YAML"},
    {"alias refused", "a: &x 1\n", HOST_FILE ":1: YAML anchors are not supported"},
    {"not a mapping", "- 1\n", HOST_FILE ":1: must be a mapping"},
    {"two documents", "threads: 1\n---\nthreads: 2\n", "only one YAML document"},
    {"credentials without redis", SVC(""),
     HOST_FILE ":2: services[0]: " TEST_DATA_DIR "/ok-policy.yaml:7: route /langchain/** requires credentials: configure redis"},
    {"redis password in yaml", "redis: {url: 'redis://h', password: x}\n" SVC(""),
     HOST_FILE ":1: redis.password: passwords are never read from the configuration"},
    {"redis url with credentials", "redis: {url: 'redis://u:pw@h'}\n" SVC(""),
     HOST_FILE ":1: redis.url: the Redis URL must not carry credentials"},
    {"stale shorter than ttl", "redis: {url: 'redis://127.0.0.1'}\ntenant_cache: {ttl_s: 60, max_stale_s: 10}\n" SVC(""),
     HOST_FILE ":2: tenant_cache.max_stale_s: must be 0 or at least ttl_s"},
    {"unknown cache key", "redis: {url: 'redis://127.0.0.1'}\ntenant_cache: {ttl: 60}\n" SVC(""),
     HOST_FILE ":2: tenant_cache.ttl: unknown key"},
};

static void test_invalid_configs(void **state)
{
    (void)state;
    for (size_t i = 0; i != sizeof(invalid) / sizeof(invalid[0]); ++i) {
        char err[1024] = "";
        sc_config_t *c = load(invalid[i].yaml, err, sizeof(err));
        if (c != NULL || strstr(err, invalid[i].expected) == NULL) {
            print_error("case \"%s\": expected error containing\n  %s\ngot\n  %s\n", invalid[i].name, invalid[i].expected,
                        c != NULL ? "(loaded)" : err);
            sc_config_free(c);
            fail();
        }
    }
}

static void test_addr_parse(void **state)
{
    (void)state;
    sc_addr_t a;
    char err[256];
    assert_int_equal(sc_config_addr_parse("0.0.0.0:443", &a, err, sizeof(err)), 0);
    assert_int_equal(ntohs(((struct sockaddr_in *)&a.ss)->sin_port), 443);
    assert_int_equal(sc_config_addr_parse("[::]:80", &a, err, sizeof(err)), 0);
    assert_int_equal(a.ss.ss_family, AF_INET6);
    assert_int_equal(sc_config_addr_parse("127.0.0.1:0", &a, err, sizeof(err)), -1);
    assert_int_equal(sc_config_addr_parse("127.0.0.1:65536", &a, err, sizeof(err)), -1);
    assert_int_equal(sc_config_addr_parse("::1:80", &a, err, sizeof(err)), -1);
    assert_int_equal(sc_config_addr_parse("[::1:80", &a, err, sizeof(err)), -1);
    assert_int_equal(sc_config_addr_parse("1.2.3.4:+80", &a, err, sizeof(err)), -1);
}

static void test_load_file(void **state)
{
    (void)state;
    char err[512];
    assert_null(sc_config_load_file(TEST_DATA_DIR "/does-not-exist.yaml", err, sizeof(err)));
    assert_non_null(strstr(err, "does-not-exist.yaml: cannot open"));
    assert_null(sc_config_load_file(TEST_DATA_DIR, err, sizeof(err)));
    assert_non_null(strstr(err, "not a regular file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_config), cmocka_unit_test(test_defaults),  cmocka_unit_test(test_invalid_configs),
        cmocka_unit_test(test_addr_parse),  cmocka_unit_test(test_load_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
