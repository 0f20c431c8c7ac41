/* The reload check (sc_config_check_reloadable): one row per field of the host file. A host file
 * is assembled from slots, one per field; each row changes one slot and says whether SIGHUP may
 * apply the change (policies, JWT issuers, TLS files and pins, trusted_proxies,
 * request_id_header, tenant_issuers_default: read per request or per connection) or must refuse
 * it with an error naming the field (everything fixed at start: listeners, upstreams, Redis,
 * caches, threads, limits). Each row is checked both ways: undoing a change is the same kind of
 * change. The TLS certificates and keys are made here, in a temporary folder that also holds the
 * policies and secrets the host file names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "config.h"

static char dir[] = "/tmp/sc-test-reload-XXXXXX";
static char host_file[sizeof(dir) + 16];

static const char *const files[] = {"policy-a.yaml", "policy-b.yaml", "hs.secret",     "redis-pw-1", "redis-pw-2", "a.key",
                                    "a-copy.key",    "a.crt",         "a-renewed.crt", "b.key",      "b.crt"};

static void path_of(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", dir, name);
}

static int write_text(const char *name, const char *text)
{
    char path[256];
    path_of(path, sizeof(path), name);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    int rc = fputs(text, f) < 0 ? -1 : 0;
    return fclose(f) != 0 ? -1 : rc;
}

static int write_key(const char *name, EVP_PKEY *key)
{
    char path[256];
    path_of(path, sizeof(path), name);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    int rc = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1 ? 0 : -1;
    return fclose(f) != 0 ? -1 : rc;
}

/* A self-signed certificate for `key`: good enough to be a server certificate and a client CA. */
static int write_cert(const char *name, EVP_PKEY *key, const char *cn, long serial)
{
    char path[256];
    X509 *x = X509_new();
    int rc = -1;
    path_of(path, sizeof(path), name);
    if (x == NULL)
        return -1;
    X509_NAME *subject = X509_get_subject_name(x);
    if (X509_set_version(x, 2) == 1 && ASN1_INTEGER_set(X509_get_serialNumber(x), serial) == 1 &&
        X509_gmtime_adj(X509_getm_notBefore(x), 0) != NULL && X509_gmtime_adj(X509_getm_notAfter(x), 86400) != NULL &&
        X509_set_pubkey(x, key) == 1 &&
        X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) == 1 &&
        X509_set_issuer_name(x, subject) == 1 && X509_sign(x, key, EVP_sha256()) > 0) {
        FILE *f = fopen(path, "w");
        if (f != NULL) {
            rc = PEM_write_X509(f, x) == 1 ? 0 : -1;
            if (fclose(f) != 0)
                rc = -1;
        }
    }
    X509_free(x);
    return rc;
}

static int setup(void **state)
{
    (void)state;
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(host_file, sizeof(host_file), "%s/host.yaml", dir); /* never written: relative paths resolve here */
    EVP_PKEY *a = EVP_EC_gen("P-256"), *b = EVP_EC_gen("P-256");
    int rc = a != NULL && b != NULL && write_key("a.key", a) == 0 && write_key("a-copy.key", a) == 0 &&
                     write_cert("a.crt", a, "sidecar-a", 1) == 0 && write_cert("a-renewed.crt", a, "sidecar-a", 2) == 0 &&
                     write_key("b.key", b) == 0 && write_cert("b.crt", b, "sidecar-b", 3) == 0 &&
                     write_text("policy-a.yaml", "mode: enforce\nroutes:\n  - path: /a/**\n    auth: [jwt, api_key]\n") == 0 &&
                     write_text("policy-b.yaml", "mode: report_only\nroutes:\n  - path: /b/**\n    auth: api_key\n") == 0 &&
                     write_text("hs.secret", "a-test-secret-of-more-than-thirty-two-bytes-0123456789\n") == 0 &&
                     write_text("redis-pw-1", "first-password\n") == 0 && write_text("redis-pw-2", "second-password\n") == 0
                 ? 0
                 : -1;
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    char path[256];
    for (size_t i = 0; i != sizeof(files) / sizeof(files[0]); ++i) {
        path_of(path, sizeof(path), files[i]);
        unlink(path);
    }
    return rmdir(dir);
}

/* The host file, one slot per field (the services[0] fields one slot each). */
enum slot {
    THREADS,
    ADMIN_LISTEN,
    SHUTDOWN_GRACE,
    CLIENT_SEND_TIMEOUT,
    REDIS,
    TENANT_CACHE,
    JWT_ISSUERS,
    JWT_CACHE,
    ISSUERS_DEFAULT,
    ACCESS_LOG,
    METRICS,
    MAX_CONNECTIONS,
    MAX_BUFFERED,
    AUTH_FAILURES,
    TRUSTED_PROXIES,
    REQUEST_ID_HEADER,
    SERVICES,
    S_NAME,
    S_LISTEN,
    S_UPSTREAM,
    S_POLICY,
    S_TIMEOUT,
    S_MAX_BODY,
    S_KEEPALIVE,
    S_MAX_IDLE,
    S_TLS,
    MORE_SERVICES,
    NUM_SLOTS
};

#define REDIS_LINE(url, user, pw, prefix, timeout, connect)                                                                        \
    "redis: {url: '" url "', user: " user ", password_file: " pw ", prefix: '" prefix "', timeout_ms: " timeout                    \
    ", connect_timeout_ms: " connect "}\n"
#define CACHE_LINE(ttl, negative, stale, entries, negative_entries)                                                                \
    "tenant_cache: {ttl_s: " ttl ", negative_ttl_s: " negative ", max_stale_s: " stale ", max_entries: " entries                   \
    ", max_negative_entries: " negative_entries "}\n"
#define ISSUERS_LINE(audiences)                                                                                                    \
    "jwt_issuers: [{issuer: 'https://idp.example.test', audiences: " audiences ", algorithms: [HS256], hmac_secret_file: "         \
    "hs.secret}]\n"
#define METRICS_LINE(per_tenant, max) "metrics: {per_tenant: " per_tenant ", max_tenants: " max "}\n"
#define FAILURES_LINE(rate, burst, total, total_burst)                                                                             \
    "auth_failure_limit: {per_client_rate: " rate ", per_client_burst: " burst ", total_rate: " total                              \
    ", total_burst: " total_burst "}\n"
#define FP1 "aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99"
#define FP2 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define TLS_LINE(cert, key, ca, subjects, fingerprints)                                                                            \
    "    tls: {cert_file: " cert ", key_file: " key ", client_ca_file: " ca ", client_subjects: " subjects                         \
    ", client_fingerprints_sha256: " fingerprints "}\n"

static const char *const base[NUM_SLOTS] = {
    [THREADS] = "threads: 2\n",
    [ADMIN_LISTEN] = "admin_listen: 127.0.0.1:9911\n",
    [SHUTDOWN_GRACE] = "shutdown_grace_s: 5\n",
    [CLIENT_SEND_TIMEOUT] = "client_send_timeout_s: 30\n",
    [REDIS] = REDIS_LINE("redis://127.0.0.1:6379/0", "sidecar", "redis-pw-1", "ps:", "50", "200"),
    [TENANT_CACHE] = CACHE_LINE("10", "2", "60", "1000", "100"),
    [JWT_ISSUERS] = ISSUERS_LINE("[api]"),
    [JWT_CACHE] = "jwt_cache_entries: 100\n",
    [ISSUERS_DEFAULT] = "tenant_issuers_default: any\n",
    [ACCESS_LOG] = "access_log: off\n",
    [METRICS] = METRICS_LINE("true", "10"),
    [MAX_CONNECTIONS] = "max_connections: 100\n",
    [MAX_BUFFERED] = "max_buffered_body_bytes: 1048576\n",
    [AUTH_FAILURES] = FAILURES_LINE("10", "20", "100", "200"),
    [TRUSTED_PROXIES] = "trusted_proxies: {cidrs: [10.0.0.0/8]}\n",
    [REQUEST_ID_HEADER] = "request_id_header: x-amzn-requestid\n",
    [SERVICES] = "services:\n",
    [S_NAME] = "  - name: a\n",
    [S_LISTEN] = "    listen: 127.0.0.1:8500\n",
    [S_UPSTREAM] = "    upstream: http://127.0.0.1:5000\n",
    [S_POLICY] = "    policy: policy-a.yaml\n",
    [S_TIMEOUT] = "    timeout_s: 10\n",
    [S_MAX_BODY] = "    max_body_bytes: 1024\n",
    [S_KEEPALIVE] = "    upstream_keepalive_ms: 1000\n",
    [S_MAX_IDLE] = "    upstream_max_idle: 8\n",
    [S_TLS] = TLS_LINE("a.crt", "a.key", "a.crt", "['CN=client']", "['" FP1 "']"),
    [MORE_SERVICES] = "",
};

static const struct row {
    const char *field;
    enum slot slot;
    const char *from;    /* the slot's text before the reload; NULL: base */
    const char *to;      /* and after */
    const char *refused; /* NULL: the reload is accepted; otherwise the error names this */
} rows[] = {
    {"nothing changed", THREADS, NULL, "threads: 2\n", NULL},
    /* fixed at start: the process's shape */
    {"threads", THREADS, NULL, "threads: 3\n", "threads"},
    {"admin_listen", ADMIN_LISTEN, NULL, "admin_listen: 127.0.0.1:9912\n", "admin_listen"},
    {"shutdown_grace_s", SHUTDOWN_GRACE, NULL, "shutdown_grace_s: 6\n", "shutdown_grace_s"},
    /* fixed at start: each worker's timer list has its duration */
    {"client_send_timeout_s", CLIENT_SEND_TIMEOUT, NULL, "client_send_timeout_s: 31\n", "client_send_timeout_s"},
    {"client_send_timeout_s (default)", CLIENT_SEND_TIMEOUT, NULL, "", "client_send_timeout_s"},
    /* fixed at start: the Redis connections and the tenant cache of each worker */
    {"redis.url (port)", REDIS, NULL, REDIS_LINE("redis://127.0.0.1:6380/0", "sidecar", "redis-pw-1", "ps:", "50", "200"), "redis"},
    {"redis.url (database)", REDIS, NULL, REDIS_LINE("redis://127.0.0.1:6379/1", "sidecar", "redis-pw-1", "ps:", "50", "200"),
     "redis"},
    {"redis.user", REDIS, NULL, REDIS_LINE("redis://127.0.0.1:6379/0", "other", "redis-pw-1", "ps:", "50", "200"), "redis"},
    {"redis.password_file", REDIS, NULL, REDIS_LINE("redis://127.0.0.1:6379/0", "sidecar", "redis-pw-2", "ps:", "50", "200"),
     "redis"},
    {"redis.prefix", REDIS, NULL, REDIS_LINE("redis://127.0.0.1:6379/0", "sidecar", "redis-pw-1", "px:", "50", "200"), "redis"},
    {"redis.timeout_ms", REDIS, NULL, REDIS_LINE("redis://127.0.0.1:6379/0", "sidecar", "redis-pw-1", "ps:", "60", "200"), "redis"},
    {"redis.connect_timeout_ms", REDIS, NULL, REDIS_LINE("redis://127.0.0.1:6379/0", "sidecar", "redis-pw-1", "ps:", "50", "300"),
     "redis"},
    {"redis.cluster", REDIS, NULL,
     "redis: {url: 'redis://127.0.0.1:6379/0', user: sidecar, password_file: redis-pw-1, prefix: 'ps:', timeout_ms: 50, "
     "connect_timeout_ms: 200, cluster: true}\n",
     "redis"},
    {"tenant_cache.ttl_s", TENANT_CACHE, NULL, CACHE_LINE("11", "2", "60", "1000", "100"), "tenant_cache"},
    {"tenant_cache.negative_ttl_s", TENANT_CACHE, NULL, CACHE_LINE("10", "3", "60", "1000", "100"), "tenant_cache"},
    {"tenant_cache.max_stale_s", TENANT_CACHE, NULL, CACHE_LINE("10", "2", "0", "1000", "100"), "tenant_cache"},
    {"tenant_cache.max_entries", TENANT_CACHE, NULL, CACHE_LINE("10", "2", "60", "2000", "100"), "tenant_cache"},
    {"tenant_cache.max_negative_entries", TENANT_CACHE, NULL, CACHE_LINE("10", "2", "60", "1000", "200"), "tenant_cache"},
    {"jwt_cache_entries", JWT_CACHE, NULL, "jwt_cache_entries: 200\n", "jwt_cache_entries"},
    /* fixed at start: the access log's file, the metrics' label sets, the limits of the listeners */
    {"access_log", ACCESS_LOG, NULL, "access_log: '-'\n", "access_log"},
    {"access_log (another file)", ACCESS_LOG, "access_log: a.log\n", "access_log: b.log\n", "access_log"},
    {"metrics.per_tenant", METRICS, NULL, METRICS_LINE("false", "10"), "metrics"},
    {"metrics.max_tenants", METRICS, NULL, METRICS_LINE("true", "20"), "metrics"},
    {"max_connections", MAX_CONNECTIONS, NULL, "max_connections: 200\n", "max_connections"},
    /* accepted and ignored (bodies are streamed): changing it changes nothing */
    {"max_buffered_body_bytes", MAX_BUFFERED, NULL, "max_buffered_body_bytes: 2097152\n", NULL},
    {"auth_failure_limit.per_client_rate", AUTH_FAILURES, NULL, FAILURES_LINE("11", "20", "100", "200"), "auth_failure_limit"},
    {"auth_failure_limit.per_client_burst", AUTH_FAILURES, NULL, FAILURES_LINE("10", "21", "100", "200"), "auth_failure_limit"},
    {"auth_failure_limit.total_rate", AUTH_FAILURES, NULL, FAILURES_LINE("10", "20", "101", "200"), "auth_failure_limit"},
    {"auth_failure_limit.total_burst", AUTH_FAILURES, NULL, FAILURES_LINE("10", "20", "100", "201"), "auth_failure_limit"},
    /* fixed at start: the listeners and their backends */
    {"services (one more)", MORE_SERVICES, NULL,
     "  - name: b\n    listen: 127.0.0.1:8501\n    upstream: http://127.0.0.1:5001\n    policy: policy-b.yaml\n    max_body_bytes: "
     "1024\n",
     "adding or removing services"},
    {"services[0].name", S_NAME, NULL, "  - name: b\n", "services[0] ("},
    {"services[0].listen", S_LISTEN, NULL, "    listen: 127.0.0.1:8501\n", "listen"},
    {"services[0].upstream", S_UPSTREAM, NULL, "    upstream: http://127.0.0.1:5001\n", "upstream"},
    {"services[0].timeout_s", S_TIMEOUT, NULL, "    timeout_s: 11\n", "timeout_s"},
    {"services[0].max_body_bytes", S_MAX_BODY, NULL, "    max_body_bytes: 2048\n", "max_body_bytes"},
    {"services[0].upstream_keepalive_ms", S_KEEPALIVE, NULL, "    upstream_keepalive_ms: 2000\n", "upstream_keepalive_ms"},
    {"services[0].upstream_max_idle", S_MAX_IDLE, NULL, "    upstream_max_idle: 9\n", "upstream_max_idle"},
    {"services[0].tls (turned off)", S_TLS, NULL, "", "turning tls on or off"},
    {"services[0].tls (turned on)", S_TLS, "", TLS_LINE("a.crt", "a.key", "a.crt", "[]", "[]"), "turning tls on or off"},
    /* read per request or per connection: reloadable */
    {"services[0].upstream (same address, spelled otherwise)", S_UPSTREAM, NULL, "    upstream: http://localhost:5000\n", NULL},
    {"services[0].policy", S_POLICY, NULL, "    policy: policy-b.yaml\n", NULL},
    {"services[0].tls.cert_file", S_TLS, NULL, TLS_LINE("a-renewed.crt", "a.key", "a.crt", "['CN=client']", "['" FP1 "']"), NULL},
    {"services[0].tls.key_file", S_TLS, NULL, TLS_LINE("a.crt", "a-copy.key", "a.crt", "['CN=client']", "['" FP1 "']"), NULL},
    {"services[0].tls (new key pair)", S_TLS, NULL, TLS_LINE("b.crt", "b.key", "a.crt", "['CN=client']", "['" FP1 "']"), NULL},
    {"services[0].tls.client_ca_file", S_TLS, NULL, TLS_LINE("a.crt", "a.key", "b.crt", "['CN=client']", "['" FP1 "']"), NULL},
    {"services[0].tls.client_subjects", S_TLS, NULL, TLS_LINE("a.crt", "a.key", "a.crt", "['CN=other']", "['" FP1 "']"), NULL},
    {"services[0].tls.client_fingerprints_sha256", S_TLS, NULL,
     TLS_LINE("a.crt", "a.key", "a.crt", "['CN=client']", "['" FP1 "', '" FP2 "']"), NULL},
    {"services[0].tls.client_ca_file (client certificates off)", S_TLS, NULL, "    tls: {cert_file: a.crt, key_file: a.key}\n",
     NULL},
    {"jwt_issuers", JWT_ISSUERS, NULL, ISSUERS_LINE("[api, other]"), NULL},
    {"jwt_issuers (none)", JWT_ISSUERS, NULL, "", NULL},
    {"tenant_issuers_default", ISSUERS_DEFAULT, NULL, "tenant_issuers_default: none\n", NULL},
    {"trusted_proxies.cidrs", TRUSTED_PROXIES, NULL, "trusted_proxies: {cidrs: [10.0.0.0/8, '192.168.0.0/16']}\n", NULL},
    {"trusted_proxies.client_cert", TRUSTED_PROXIES, NULL, "trusted_proxies: {cidrs: [10.0.0.0/8], client_cert: true}\n", NULL},
    {"request_id_header", REQUEST_ID_HEADER, NULL, "request_id_header: x-apigw-request-id\n", NULL},
    {"request_id_header (none)", REQUEST_ID_HEADER, NULL, "", NULL},
};

/* The host file with `slot` replaced by `text` (NULL: the base file). */
static sc_config_t *load(enum slot slot, const char *text, char *err, size_t errsize)
{
    char yaml[4096] = "";
    for (int i = 0; i != NUM_SLOTS; ++i) {
        const char *s = i == (int)slot && text != NULL ? text : base[i];
        assert_true(strlen(yaml) + strlen(s) < sizeof(yaml));
        strcat(yaml, s);
    }
    return sc_config_load_string(yaml, strlen(yaml), host_file, err, errsize);
}

/* Whether `from` -> `to` got the row's verdict; fails the test with the row's field otherwise. */
static void check(const struct row *row, const sc_config_t *from, const sc_config_t *to, const char *direction)
{
    char err[1024] = "";
    int rc = sc_config_check_reloadable(from, to, err, sizeof(err));
    if (row->refused == NULL) {
        if (rc != 0)
            fail_msg("%s (%s): the reload should be accepted, got: %s", row->field, direction, err);
        return;
    }
    if (rc != -1)
        fail_msg("%s (%s): the reload should be refused", row->field, direction);
    if (strncmp(err, host_file, strlen(host_file)) != 0 || strstr(err, row->refused) == NULL || strstr(err, "restart") == NULL)
        fail_msg("%s (%s): expected an error from %s naming \"%s\" and a restart, got: %s", row->field, direction, host_file,
                 row->refused, err);
}

static void test_one_row_per_field(void **state)
{
    (void)state;
    for (size_t i = 0; i != sizeof(rows) / sizeof(rows[0]); ++i) {
        const struct row *row = &rows[i];
        char err[1024] = "";
        sc_config_t *from = load(row->slot, row->from, err, sizeof(err));
        if (from == NULL)
            fail_msg("%s: the configuration before does not load: %s", row->field, err);
        sc_config_t *to = load(row->slot, row->to, err, sizeof(err));
        if (to == NULL) {
            sc_config_free(from);
            fail_msg("%s: the configuration after does not load: %s", row->field, err);
        }
        check(row, from, to, "change");
        check(row, to, from, "undo"); /* going back is the same kind of change */
        sc_config_free(from);
        sc_config_free(to);
    }
}

/* Every key of the host file (sc_config_host_keys, all set in `base`) has at least one row. */
static void test_every_host_key_has_a_row(void **state)
{
    (void)state;
    const char *const *keys = sc_config_host_keys;
    for (size_t k = 0; keys[k] != NULL; ++k) {
        size_t n = strlen(keys[k]), found = 0;
        for (size_t i = 0; i != sizeof(rows) / sizeof(rows[0]); ++i)
            found += strncmp(rows[i].field, keys[k], n) == 0 && strchr(".( ", rows[i].field[n]) != NULL;
        if (found == 0)
            fail_msg("%s: no row", keys[k]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_row_per_field),
        cmocka_unit_test(test_every_host_key_has_a_row),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
