/* Redis connection settings: URLs, the password (from a file or the environment, never from
 * YAML or a URL), and the host file's `redis:` section with the line and key each error must
 * name. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_config.h"

#define HOST_FILE TEST_DATA_DIR "/host.yaml"

static int setup(void **state)
{
    (void)state;
    unsetenv(SC_REDIS_PASSWORD_ENV); /* the developer's environment must not leak into results */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unsetenv(SC_REDIS_PASSWORD_ENV);
    return 0;
}

/* ------------------------------------------------------------------ URLs */

static void test_url_valid(void **state)
{
    (void)state;
    char err[256] = "";
    sc_redis_config_t *c = sc_redis_config_from_url("redis://127.0.0.1", err, sizeof(err));
    assert_non_null(c);
    assert_string_equal(err, "");
    assert_string_equal(c->url, "redis://127.0.0.1");
    assert_string_equal(c->host, "127.0.0.1");
    assert_int_equal(c->port, 6379);
    assert_int_equal(c->db, 0);
    assert_string_equal(c->prefix, "ps:");
    assert_int_equal(c->timeout_ms, 50);
    assert_int_equal(c->connect_timeout_ms, 1000);
    assert_null(c->user);
    assert_null(c->password);
    sc_redis_config_free(c);

    c = sc_redis_config_from_url("redis://localhost:6380/2", err, sizeof(err));
    assert_non_null(c);
    assert_string_equal(c->url, "redis://localhost:6380/2"); /* as configured, for logs */
    assert_string_equal(c->host, "127.0.0.1");               /* resolved once, now */
    assert_int_equal(c->port, 6380);
    assert_int_equal(c->db, 2);
    sc_redis_config_free(c);

    static const struct {
        const char *url;
        unsigned port, db;
    } more[] = {
        {"redis://127.0.0.1/", 6379, 0},
        {"redis://127.0.0.1:1", 1, 0},
        {"redis://127.0.0.1:65535/15", 65535, 15},
        {"redis://127.0.0.1/1000", 6379, 1000},
    };
    for (size_t i = 0; i != sizeof(more) / sizeof(more[0]); ++i) {
        c = sc_redis_config_from_url(more[i].url, err, sizeof(err));
        if (c == NULL)
            fail_msg("%s: refused: %s", more[i].url, err);
        unsigned port = c->port, db = c->db;
        sc_redis_config_free(c);
        if (port != more[i].port || db != more[i].db)
            fail_msg("%s: expected port %u db %u, got port %u db %u", more[i].url, more[i].port, more[i].db, port, db);
    }
}

static const struct {
    const char *url;
    const char *expected; /* the error must contain this */
} invalid_urls[] = {
    {"http://127.0.0.1:6379", "\"http://127.0.0.1:6379\" must start with redis://"},
    {"rediss://127.0.0.1", "must start with redis://"},
    {"127.0.0.1:6379", "must start with redis://"},
    {"", "must start with redis://"},
    {"redis://", "\"redis://\" is not redis://HOST[:PORT][/DB]"},
    {"redis://:6379", "is not redis://HOST[:PORT][/DB]"},
    {"redis:///2", "is not redis://HOST[:PORT][/DB]"},
    {"redis://127.0.0.1:", "is not redis://HOST[:PORT][/DB]"},
    {"redis://127.0.0.1:0", "is not redis://HOST[:PORT][/DB]"},
    {"redis://127.0.0.1:65536", "is not redis://HOST[:PORT][/DB]"},
    {"redis://127.0.0.1:70000", "is not redis://HOST[:PORT][/DB]"},
    {"redis://127.0.0.1:99999999999999999999", "is not redis://HOST[:PORT][/DB]"},
    {"redis://127.0.0.1:-1", "is not redis://HOST[:PORT][/DB]"},
    {"redis://127.0.0.1:port", "is not redis://HOST[:PORT][/DB]"},
    {"redis://127.0.0.1/x", "is not redis://HOST[:PORT][/DB]"},
    {"redis://127.0.0.1/2x", "is not redis://HOST[:PORT][/DB]"},
    {"redis://127.0.0.1/2/", "is not redis://HOST[:PORT][/DB]"},
    {"redis://127.0.0.1/1001", "is not redis://HOST[:PORT][/DB]"},
    {"redis://127.0.0.1:6379x", "is not redis://HOST[:PORT][/DB]"},
    {"redis://127.0.0.1:6379/2?timeout=1", "is not redis://HOST[:PORT][/DB]"},
    {"redis://u:p@127.0.0.1", "password_file"},
    {"redis://:p@127.0.0.1:6379/0", "password_file"},
    {"redis://default@127.0.0.1", "must not carry credentials"},
};

static void test_url_invalid(void **state)
{
    (void)state;
    int failed = 0;
    for (size_t i = 0; i != sizeof(invalid_urls) / sizeof(invalid_urls[0]); ++i) {
        char err[256] = "";
        sc_redis_config_t *c = sc_redis_config_from_url(invalid_urls[i].url, err, sizeof(err));
        if (c != NULL || strstr(err, invalid_urls[i].expected) == NULL) {
            print_error("URL \"%s\": expected error containing\n  %s\ngot\n  %s\n", invalid_urls[i].url, invalid_urls[i].expected,
                        c != NULL ? "(accepted)" : err);
            failed = 1;
        }
        sc_redis_config_free(c);
    }
    if (failed)
        fail();
}

/* The credentials check must come before any message that quotes the URL: a mistyped scheme
 * (rediss://, http://) with a password would otherwise put the password in the start-up log. */
static void test_url_error_never_echoes_credentials(void **state)
{
    (void)state;
    static const char *const urls[] = {
        "redis://user:s3cret@127.0.0.1:6379",
        "rediss://user:s3cret@127.0.0.1:6379",
        "http://user:s3cret@127.0.0.1:6379",
        "redis://user:s3cret@127.0.0.1:0",
    };
    int failed = 0;
    for (size_t i = 0; i != sizeof(urls) / sizeof(urls[0]); ++i) {
        char err[256] = "";
        sc_redis_config_t *c = sc_redis_config_from_url(urls[i], err, sizeof(err));
        if (c != NULL || err[0] == '\0' || strstr(err, "s3cret") != NULL) {
            print_error("URL \"%s\": expected a refusal that does not quote the password, got\n  %s\n", urls[i],
                        c != NULL ? "(accepted)" : err);
            failed = 1;
        }
        sc_redis_config_free(c);
    }
    if (failed)
        fail();
}

/* Port and database are plain digits, as sc_config_addr_parse requires for listen addresses. */
static void test_url_numbers_are_plain_digits(void **state)
{
    (void)state;
    static const char *const urls[] = {
        "redis://127.0.0.1:+6379",
        "redis://127.0.0.1: 6379",
        "redis://127.0.0.1/+2",
        "redis://127.0.0.1/-0",
    };
    int failed = 0;
    for (size_t i = 0; i != sizeof(urls) / sizeof(urls[0]); ++i) {
        char err[256] = "";
        sc_redis_config_t *c = sc_redis_config_from_url(urls[i], err, sizeof(err));
        if (c != NULL || strstr(err, "is not redis://HOST[:PORT][/DB]") == NULL) {
            print_error("URL \"%s\": expected refusal, got %s\n", urls[i], c != NULL ? "(accepted)" : err);
            failed = 1;
        }
        sc_redis_config_free(c);
    }
    if (failed)
        fail();
}

/* ------------------------------------------------------------------ passwords */

static sc_redis_config_t *local_config(void)
{
    char err[256];
    sc_redis_config_t *c = sc_redis_config_from_url("redis://127.0.0.1", err, sizeof(err));
    assert_non_null(c);
    return c;
}

static void test_password_from_file(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        const char *password;
    } good[] = {
        {"redis-password.txt", "s3cret-from-file"}, /* trailing newline stripped */
        {"redis-password-crlf.txt", "s3cret"},      /* and a CR before it */
        {"redis-password-noeol.txt", "no-newline"},
    };
    for (size_t i = 0; i != sizeof(good) / sizeof(good[0]); ++i) {
        char path[512], err[512] = "";
        snprintf(path, sizeof(path), "%s/%s", TEST_DATA_DIR, good[i].file);
        sc_redis_config_t *c = local_config();
        int rc = sc_redis_config_load_password(c, path, err, sizeof(err));
        int ok = rc == 0 && c->password != NULL && strcmp(c->password, good[i].password) == 0;
        sc_redis_config_free(c);
        if (!ok)
            fail_msg("%s: expected password \"%s\", got rc %d: %s", good[i].file, good[i].password, rc, err);
    }

    /* a second load replaces the first password (valgrind checks the old one is freed) */
    char err[512];
    sc_redis_config_t *c = local_config();
    assert_int_equal(sc_redis_config_load_password(c, TEST_DATA_DIR "/redis-password.txt", err, sizeof(err)), 0);
    assert_int_equal(sc_redis_config_load_password(c, TEST_DATA_DIR "/redis-password-noeol.txt", err, sizeof(err)), 0);
    assert_string_equal(c->password, "no-newline");
    sc_redis_config_free(c);
}

static void test_password_file_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        const char *expected;
    } bad[] = {
        {"redis-password-empty.txt", "redis-password-empty.txt: must hold the password on one line"},
        {"redis-password-blank-line.txt", "redis-password-blank-line.txt: must hold the password on one line"},
        {"redis-password-multiline.txt", "redis-password-multiline.txt: must hold the password on one line"},
        {"no-such-password.txt", "no-such-password.txt: cannot open"},
        {"", "not a regular file"}, /* the data directory itself */
    };
    int failed = 0;
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        char path[512], err[512] = "";
        snprintf(path, sizeof(path), "%s/%s", TEST_DATA_DIR, bad[i].file);
        sc_redis_config_t *c = local_config();
        int rc = sc_redis_config_load_password(c, path, err, sizeof(err));
        if (rc != -1 || c->password != NULL || strstr(err, bad[i].expected) == NULL) {
            print_error("%s: expected error containing\n  %s\ngot rc %d\n  %s\n", bad[i].file, bad[i].expected, rc, err);
            failed = 1;
        }
        sc_redis_config_free(c);
    }
    if (failed)
        fail();
}

static void test_password_from_environment(void **state)
{
    (void)state;
    char err[256];
    sc_redis_config_t *c = local_config();

    /* neither file nor variable: no AUTH */
    assert_int_equal(sc_redis_config_load_password(c, NULL, err, sizeof(err)), 0);
    assert_null(c->password);

    /* an empty variable counts as unset */
    setenv(SC_REDIS_PASSWORD_ENV, "", 1);
    assert_int_equal(sc_redis_config_load_password(c, NULL, err, sizeof(err)), 0);
    assert_null(c->password);

    setenv(SC_REDIS_PASSWORD_ENV, "from-env", 1);
    assert_int_equal(sc_redis_config_load_password(c, NULL, err, sizeof(err)), 0);
    assert_string_equal(c->password, "from-env");

    /* a copy: changing the environment later does not change the config */
    setenv(SC_REDIS_PASSWORD_ENV, "changed", 1);
    assert_string_equal(c->password, "from-env");

    /* a password file wins over the variable */
    assert_int_equal(sc_redis_config_load_password(c, TEST_DATA_DIR "/redis-password.txt", err, sizeof(err)), 0);
    assert_string_equal(c->password, "s3cret-from-file");

    /* a refused file does not fall back to the variable and keeps the previous password */
    assert_int_equal(sc_redis_config_load_password(c, TEST_DATA_DIR "/redis-password-empty.txt", err, sizeof(err)), -1);
    assert_string_equal(c->password, "s3cret-from-file");

    unsetenv(SC_REDIS_PASSWORD_ENV);
    sc_redis_config_free(c);
}

/* ------------------------------------------------------------------ the host file's redis: section */

static sc_redis_config_t *read_redis(const char *yaml, char *err, size_t errsize)
{
    sc_yaml_node_t *root = sc_yaml_tree_parse_string(yaml, strlen(yaml), HOST_FILE, err, errsize);
    if (root == NULL)
        fail_msg("fixture is not YAML: %s", err);
    sc_conf_reader_t r = {.file = HOST_FILE, .err = err, .errsize = errsize};
    sc_redis_config_t *c = NULL;
    int rc = sc_redis_config_read(&r, sc_yaml_tree_get(root, "redis"), "redis", &c);
    sc_yaml_tree_free(root);
    if (rc != 0) {
        assert_int_equal(rc, -1);
        assert_null(c);
        return NULL;
    }
    assert_non_null(c);
    return c;
}

static void test_read_full(void **state)
{
    (void)state;
    char err[512] = "";
    sc_redis_config_t *c = read_redis("redis:\n"
                                      "  url: redis://localhost:6380/3\n"
                                      "  user: sidecar\n"
                                      "  password_file: redis-password.txt\n" /* relative to the host file */
                                      "  prefix: 'staging:ps:'\n"
                                      "  timeout_ms: 20\n"
                                      "  connect_timeout_ms: 60000\n",
                                      err, sizeof(err));
    if (c == NULL)
        fail_msg("refused: %s", err);
    assert_string_equal(c->url, "redis://localhost:6380/3");
    assert_string_equal(c->host, "127.0.0.1");
    assert_int_equal(c->port, 6380);
    assert_int_equal(c->db, 3);
    assert_string_equal(c->user, "sidecar");
    assert_string_equal(c->password, "s3cret-from-file");
    assert_string_equal(c->prefix, "staging:ps:");
    assert_int_equal(c->timeout_ms, 20);
    assert_int_equal(c->connect_timeout_ms, 60000);
    sc_redis_config_free(c);
}

static void test_read_defaults(void **state)
{
    (void)state;
    char err[512] = "";
    sc_redis_config_t *c = read_redis("redis:\n  url: redis://127.0.0.1\n", err, sizeof(err));
    if (c == NULL)
        fail_msg("refused: %s", err);
    assert_null(c->user);
    assert_null(c->password);
    assert_string_equal(c->prefix, "ps:");
    assert_int_equal(c->timeout_ms, 50);
    assert_int_equal(c->connect_timeout_ms, 1000);
    assert_int_equal(c->cluster, 0);
    sc_redis_config_free(c);

    c = read_redis("redis:\n  url: redis://127.0.0.1:7000\n  cluster: true\n", err, sizeof(err));
    if (c == NULL)
        fail_msg("refused: %s", err);
    assert_int_equal(c->cluster, 1);
    assert_int_equal(c->port, 7000);
    sc_redis_config_free(c);

    /* without password_file the environment supplies the password */
    setenv(SC_REDIS_PASSWORD_ENV, "from-env", 1);
    c = read_redis("redis:\n  url: redis://127.0.0.1\n", err, sizeof(err));
    assert_non_null(c);
    assert_string_equal(c->password, "from-env");
    sc_redis_config_free(c);
    c = read_redis("redis:\n  url: redis://127.0.0.1\n  password_file: " TEST_DATA_DIR "/redis-password.txt\n", err, sizeof(err));
    assert_non_null(c);
    assert_string_equal(c->password, "s3cret-from-file");
    sc_redis_config_free(c);
    unsetenv(SC_REDIS_PASSWORD_ENV);

    /* the longest prefix */
    c = read_redis("redis:\n  url: redis://127.0.0.1\n"
                   "  prefix: pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp\n",
                   err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(strlen(c->prefix), SC_SCHEMA_PREFIX_MAX);
    sc_redis_config_free(c);
}

#define URL "redis:\n  url: redis://127.0.0.1\n"

static const struct {
    const char *name;
    const char *yaml;
    const char *expected; /* the error must contain this */
} invalid[] = {
    {"password in YAML", URL "  password: hunter2\n",
     HOST_FILE ":3: redis.password: passwords are never read from the configuration: use password_file or SIDECAR_REDIS_PASSWORD"},
    {"password before url", "redis:\n  password: hunter2\n  url: redis://127.0.0.1\n", HOST_FILE ":2: redis.password: "},
    {"unknown key", URL "  database: 2\n", HOST_FILE ":3: redis.database: unknown key"},
    {"misspelt key", URL "  timeout: 20\n", HOST_FILE ":3: redis.timeout: unknown key"},
    {"missing url", "redis:\n  user: sidecar\n", HOST_FILE ":2: redis.url: is required"},
    {"null url", "redis:\n  url:\n", "redis.url: is required"},
    {"url not redis://", "redis:\n  url: http://127.0.0.1\n",
     HOST_FILE ":2: redis.url: \"http://127.0.0.1\" must start with redis://"},
    {"url with credentials", "redis:\n  url: redis://u:p@127.0.0.1\n", HOST_FILE ":2: redis.url: "},
    {"url with credentials names password_file", "redis:\n  url: redis://u:p@127.0.0.1\n", "password_file"},
    {"url bad port", "redis:\n  url: redis://127.0.0.1:0\n", HOST_FILE ":2: redis.url: \"redis://127.0.0.1:0\" is not redis://"},
    {"url a list", "redis:\n  url: [redis://127.0.0.1]\n", HOST_FILE ":2: redis.url: must be a single value"},
    {"prefix with braces", URL "  prefix: 'ps:{x}:'\n",
     HOST_FILE ":3: redis.prefix: must be at most 64 characters without braces or spaces"},
    {"prefix with open brace", URL "  prefix: 'ps{'\n", HOST_FILE ":3: redis.prefix: must be at most 64"},
    {"prefix with a space", URL "  prefix: 'my app:'\n", HOST_FILE ":3: redis.prefix: must be at most 64"},
    {"prefix of 65 characters", URL "  prefix: ppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp\n",
     HOST_FILE ":3: redis.prefix: must be at most 64"},
    {"empty prefix", URL "  prefix: ''\n", HOST_FILE ":3: redis.prefix: must not be empty"},
    {"timeout zero", URL "  timeout_ms: 0\n", HOST_FILE ":3: redis.timeout_ms: 0 is out of range [1, 60000]"},
    {"timeout too long", URL "  timeout_ms: 60001\n", HOST_FILE ":3: redis.timeout_ms: 60001 is out of range [1, 60000]"},
    {"timeout not a number", URL "  timeout_ms: fast\n", HOST_FILE ":3: redis.timeout_ms: \"fast\" is not a whole number"},
    {"negative timeout", URL "  timeout_ms: -5\n", HOST_FILE ":3: redis.timeout_ms: \"-5\" is not a whole number"},
    {"connect timeout zero", URL "  connect_timeout_ms: 0\n", HOST_FILE ":3: redis.connect_timeout_ms: 0 is out of range"},
    {"connect timeout too long", URL "  connect_timeout_ms: 600000\n",
     HOST_FILE ":3: redis.connect_timeout_ms: 600000 is out of range"},
    {"password file missing", URL "  password_file: nope.txt\n",
     HOST_FILE ":3: redis.password_file: " TEST_DATA_DIR "/nope.txt: cannot open"},
    {"password file empty", URL "  password_file: redis-password-empty.txt\n",
     HOST_FILE ":3: redis.password_file: " TEST_DATA_DIR "/redis-password-empty.txt: must hold the password on one line"},
    {"password file of two lines", URL "  password_file: redis-password-multiline.txt\n",
     HOST_FILE ":3: redis.password_file: " TEST_DATA_DIR "/redis-password-multiline.txt: must hold the password on one line"},
    {"cluster not a boolean", URL "  cluster: maybe\n", HOST_FILE ":3: redis.cluster: \"maybe\" is not true or false"},
    {"cluster with a database", "redis:\n  url: redis://127.0.0.1/2\n  cluster: true\n",
     HOST_FILE ":2: redis.url: a Redis Cluster has database 0 only"},
    {"not a mapping", "redis: redis://127.0.0.1\n", HOST_FILE ":1: redis: must be a mapping, got a single value"},
    {"absent", "threads: 1\n", HOST_FILE ":1: redis: must be a mapping, got nothing"},
};

static void test_read_invalid(void **state)
{
    (void)state;
    int failed = 0;
    for (size_t i = 0; i != sizeof(invalid) / sizeof(invalid[0]); ++i) {
        char err[1024] = "";
        sc_redis_config_t *c = read_redis(invalid[i].yaml, err, sizeof(err));
        if (c != NULL || strstr(err, invalid[i].expected) == NULL) {
            print_error("case \"%s\": expected error containing\n  %s\ngot\n  %s\n", invalid[i].name, invalid[i].expected,
                        c != NULL ? "(loaded)" : err);
            failed = 1;
        }
        sc_redis_config_free(c);
    }
    if (failed)
        fail();
}

static void test_read_error_never_echoes_password(void **state)
{
    (void)state;
    char err[1024] = "";
    assert_null(read_redis(URL "  password: hunter2\n", err, sizeof(err)));
    assert_null(strstr(err, "hunter2"));
    assert_null(read_redis("redis:\n  url: redis://u:hunter2@127.0.0.1\n", err, sizeof(err)));
    assert_null(strstr(err, "hunter2"));
    /* a mistyped scheme: the message goes to the start-up log */
    assert_null(read_redis("redis:\n  url: rediss://u:hunter2@127.0.0.1\n", err, sizeof(err)));
    if (strstr(err, "hunter2") != NULL)
        fail_msg("the error quotes the password: %s", err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_url_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_url_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_url_error_never_echoes_credentials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_url_numbers_are_plain_digits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_from_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_file_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_from_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_error_never_echoes_password, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
