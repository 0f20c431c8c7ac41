/* sidecarctl's command line: every command's happy path, global options anywhere, and a table of
 * invalid command lines, each refused as a usage error (2) with a message that says why. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "ctl_args.h"

#define MAX_WORDS 32

/* Parses "sidecarctl" followed by the NULL-terminated words. */
static int parse_words(const char *const *words, ctl_args_t *a, ctl_err_t *err)
{
    char *argv[MAX_WORDS + 1] = {"sidecarctl"};
    int argc = 1;
    for (; words[argc - 1] != NULL && argc < MAX_WORDS; ++argc)
        argv[argc] = (char *)words[argc - 1];
    argv[argc] = NULL;
    memset(err, 0, sizeof(*err));
    return ctl_args_parse(argc, argv, a, err);
}

#define PARSE(a, err, ...) parse_words((const char *const[]){__VA_ARGS__, NULL}, (a), (err))

/* Parses a command line that must be valid. */
#define PARSE_OK(a, ...)                                                                                                           \
    do {                                                                                                                           \
        ctl_err_t err_;                                                                                                            \
        int rc_ = PARSE((a), &err_, __VA_ARGS__);                                                                                  \
        if (rc_ != CTL_EXIT_OK)                                                                                                    \
            fail_msg("unexpected error: %s", err_.msg);                                                                            \
    } while (0)

static void test_tenant_create_every_option(void **state)
{
    (void)state;
    ctl_args_t a;
    PARSE_OK(&a, "tenant", "create", "acme", "--services", "langchain,tools", "--scopes", "read write", "--rate", "5", "--burst=10",
             "--quota", "1000", "--issuer", "https://idp.test/", "--issuer", "https://other.test/");
    assert_int_equal(a.command, CTL_CMD_TENANT_CREATE);
    assert_string_equal(a.command_name, "tenant create");
    assert_string_equal(a.target, "acme");
    assert_int_equal(a.given, CTL_OPTS_TENANT_FIELDS);
    assert_string_equal(a.services, "langchain tools");
    assert_string_equal(a.scopes, "read write");
    assert_int_equal(a.rate, 5);
    assert_int_equal(a.burst, 10);
    assert_int_equal(a.quota, 1000);
    assert_string_equal(a.issuers, "https://idp.test/ https://other.test/");
    ctl_args_free(&a);
}

static void test_tenant_create_defaults(void **state)
{
    (void)state;
    ctl_args_t a;
    PARSE_OK(&a, "tenant", "create", "acme");
    assert_int_equal(a.command, CTL_CMD_TENANT_CREATE);
    assert_int_equal(a.given, 0);
    assert_null(a.services);
    assert_null(a.redis_url);
    assert_null(a.actor);
    assert_int_equal(a.json, 0);
    ctl_args_free(&a);
}

static void test_tenant_commands(void **state)
{
    (void)state;
    static const struct {
        const char *verb;
        ctl_command_t command;
    } cases[] = {
        {"get", CTL_CMD_TENANT_GET},       {"suspend", CTL_CMD_TENANT_SUSPEND}, {"activate", CTL_CMD_TENANT_ACTIVATE},
        {"delete", CTL_CMD_TENANT_DELETE}, {"update", CTL_CMD_TENANT_UPDATE},
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        ctl_args_t a;
        if (cases[i].command == CTL_CMD_TENANT_UPDATE)
            PARSE_OK(&a, "tenant", cases[i].verb, "t-1.x_y", "--rate", "0");
        else
            PARSE_OK(&a, "tenant", cases[i].verb, "t-1.x_y");
        assert_int_equal(a.command, cases[i].command);
        assert_string_equal(a.target, "t-1.x_y");
        ctl_args_free(&a);
    }
    ctl_args_t a;
    PARSE_OK(&a, "tenant", "list");
    assert_int_equal(a.command, CTL_CMD_TENANT_LIST);
    assert_null(a.target);
    ctl_args_free(&a);
}

static void test_tenant_update_star_and_duplicate_issuer(void **state)
{
    (void)state;
    ctl_args_t a;
    PARSE_OK(&a, "tenant", "update", "acme", "--services", "*", "--issuer", "https://idp/", "--issuer", "https://idp/", "--issuer",
             "https://b/");
    assert_int_equal(a.given, CTL_OPT_SERVICES | CTL_OPT_ISSUER);
    assert_string_equal(a.services, "*");
    assert_string_equal(a.issuers, "https://idp/ https://b/"); /* the duplicate is kept once */
    ctl_args_free(&a);

    PARSE_OK(&a, "tenant", "update", "acme", "--scopes", "*", "--issuer", "*");
    assert_string_equal(a.scopes, "*");
    assert_string_equal(a.issuers, "*");
    ctl_args_free(&a);

    PARSE_OK(&a, "tenant", "update", "acme", "--services", "rag, rag,tools"); /* split like the sidecar splits records */
    assert_string_equal(a.services, "rag tools");
    ctl_args_free(&a);
}

static void test_key_commands(void **state)
{
    (void)state;
    ctl_args_t a;
    PARSE_OK(&a, "key", "create", "acme", "--scopes", "read,admin", "--expires", "30d", "--name", "CI bot (main)");
    assert_int_equal(a.command, CTL_CMD_KEY_CREATE);
    assert_string_equal(a.target, "acme");
    assert_string_equal(a.scopes, "read admin");
    assert_int_equal(a.expires_s, 30 * 86400);
    assert_string_equal(a.key_name, "CI bot (main)");
    ctl_args_free(&a);

    PARSE_OK(&a, "key", "list", "acme");
    assert_int_equal(a.command, CTL_CMD_KEY_LIST);
    ctl_args_free(&a);

    PARSE_OK(&a, "key", "revoke", "k_0123456789ab");
    assert_int_equal(a.command, CTL_CMD_KEY_REVOKE);
    assert_string_equal(a.target, "k_0123456789ab");
    ctl_args_free(&a);

    PARSE_OK(&a, "key", "rotate", "k_0123456789ab");
    assert_int_equal(a.command, CTL_CMD_KEY_ROTATE);
    assert_int_equal(a.grace_s, CTL_DEFAULT_GRACE_S);
    ctl_args_free(&a);

    PARSE_OK(&a, "key", "rotate", "k_0123456789ab", "--grace=0");
    assert_int_equal(a.grace_s, 0); /* revoke now */
    ctl_args_free(&a);

    PARSE_OK(&a, "key", "rotate", "--grace", "2h", "k_0123456789ab");
    assert_int_equal(a.grace_s, 7200);
    ctl_args_free(&a);
}

static void test_export_import(void **state)
{
    (void)state;
    ctl_args_t a;
    PARSE_OK(&a, "export");
    assert_int_equal(a.command, CTL_CMD_EXPORT);
    ctl_args_free(&a);
    PARSE_OK(&a, "import", "tenants.json");
    assert_int_equal(a.command, CTL_CMD_IMPORT);
    assert_string_equal(a.target, "tenants.json");
    ctl_args_free(&a);
    PARSE_OK(&a, "import", "-"); /* standard input */
    assert_string_equal(a.target, "-");
    ctl_args_free(&a);
}

static void test_global_options_anywhere(void **state)
{
    (void)state;
    ctl_args_t a;
    PARSE_OK(&a, "--json", "tenant", "--redis", "redis://127.0.0.1:6379/2", "delete", "-c", "host.yaml", "acme", "--actor=alice",
             "--yes");
    assert_int_equal(a.command, CTL_CMD_TENANT_DELETE);
    assert_string_equal(a.target, "acme");
    assert_int_equal(a.json, 1);
    assert_int_equal(a.yes, 1);
    assert_string_equal(a.redis_url, "redis://127.0.0.1:6379/2");
    assert_string_equal(a.config_file, "host.yaml");
    assert_string_equal(a.actor, "alice");
    assert_int_equal(a.redis_cluster, 0);
    ctl_args_free(&a);

    PARSE_OK(&a, "tenant", "list", "--redis-cluster", "--redis", "redis://127.0.0.1:7000");
    assert_int_equal(a.redis_cluster, 1);
    ctl_args_free(&a);

    /* "--" ends the options: a tenant id may start with '-' */
    PARSE_OK(&a, "tenant", "get", "--json", "--", "-acme");
    assert_string_equal(a.target, "-acme");
    assert_int_equal(a.json, 1);
    ctl_args_free(&a);
}

static void test_help_and_version_win(void **state)
{
    (void)state;
    ctl_args_t a;
    PARSE_OK(&a, "--help");
    assert_int_equal(a.command, CTL_CMD_HELP);
    ctl_args_free(&a);
    PARSE_OK(&a, "tenant", "create", "-h", "--rate", "-1", "--frob");
    assert_int_equal(a.command, CTL_CMD_HELP);
    ctl_args_free(&a);
    PARSE_OK(&a, "--version", "nonsense");
    assert_int_equal(a.command, CTL_CMD_VERSION);
    ctl_args_free(&a);
}

static void test_durations_and_counts(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t seconds; /* -1: invalid */
    } durations[] = {
        {"0", 0},
        {"45", 45},
        {"45s", 45},
        {"5m", 300},
        {"24h", 86400},
        {"30d", 2592000},
        {"36500d", 36500LL * 86400},
        {"36501d", -1},
        {"3x", -1},
        {"-1d", -1},
        {"", -1},
        {"d", -1},
        {"1dd", -1},
        {"1.5h", -1},
        {"1 d", -1},
        {"+1s", -1},
        {"99999999999999999999d", -1},
    };
    for (size_t i = 0; i != sizeof(durations) / sizeof(durations[0]); ++i) {
        int64_t v = -7;
        int rc = ctl_parse_duration(durations[i].text, &v);
        if (durations[i].seconds < 0) {
            assert_int_equal(rc, -1);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(v, durations[i].seconds);
        }
    }
    uint64_t n;
    assert_int_equal(ctl_parse_count("0", &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(ctl_parse_count("1000000000000", &n), 0);
    assert_int_equal(n, CTL_MAX_COUNT);
    assert_int_equal(ctl_parse_count("1000000000001", &n), -2);
    assert_int_equal(ctl_parse_count("99999999999999999999", &n), -2);
    assert_int_equal(ctl_parse_count("abc", &n), -1);
    assert_int_equal(ctl_parse_count("-1", &n), -1);
    assert_int_equal(ctl_parse_count("+1", &n), -1);
    assert_int_equal(ctl_parse_count("", &n), -1);
    assert_int_equal(ctl_parse_count("1e3", &n), -1);
}

static void test_word_and_key_id_rules(void **state)
{
    (void)state;
    assert_true(ctl_word_valid("https://idp.example/realms/x"));
    assert_false(ctl_word_valid("a b"));
    assert_false(ctl_word_valid("a,b"));
    assert_false(ctl_word_valid("a\nb"));
    assert_false(ctl_word_valid(""));
    assert_true(ctl_key_id_valid("k_0123456789ab"));
    assert_false(ctl_key_id_valid("k 1"));
    assert_false(ctl_key_id_valid(""));
}

/* Every one of these is a usage error (exit 2) whose message starts with `prefix`. */
static const struct invalid_case {
    const char *words[14];
    const char *prefix;
} invalid[] = {
    {{0}, "missing command"},
    {{"frob"}, "unknown command \"frob\""},
    {{"tenant"}, "tenant: missing command"},
    {{"key"}, "key: missing command"},
    {{"tenant", "frob", "acme"}, "unknown command \"tenant frob\""},
    {{"tenant", "create"}, "tenant create: missing tenant ID"},
    {{"tenant", "get"}, "tenant get: missing tenant ID"},
    {{"key", "create"}, "key create: missing tenant ID"},
    {{"key", "revoke"}, "key revoke: missing key ID"},
    {{"key", "rotate"}, "key rotate: missing key ID"},
    {{"import"}, "import: missing FILE"},
    {{"tenant", "list", "extra"}, "tenant list: unexpected argument \"extra\""},
    {{"tenant", "get", "a", "b"}, "tenant get: unexpected argument \"b\""},
    {{"export", "x", "y", "z"}, "export: unexpected argument \"x\""},
    {{"tenant", "create", "a b"}, "invalid tenant ID \"a b\""},
    {{"tenant", "create", "{acme}"}, "invalid tenant ID \"{acme}\""},
    {{"tenant", "get", "acme/x"}, "invalid tenant ID \"acme/x\""},
    {{"tenant", "get", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
     "invalid tenant ID"}, /* 65 characters */
    {{"tenant", "get", ""}, "invalid tenant ID \"\""},
    {{"key", "list", "ac:me"}, "invalid tenant ID \"ac:me\""},
    {{"key", "revoke", "k 1"}, "invalid key ID \"k 1\""},
    {{"tenant", "create", "acme", "--frob"}, "unknown option \"--frob\""},
    {{"tenant", "create", "acme", "-x"}, "unknown option \"-x\""},
    {{"tenant", "get", "acme", "--rate", "5"}, "tenant get does not take --rate"},
    {{"key", "create", "acme", "--rate", "5"}, "key create does not take --rate"},
    {{"tenant", "create", "acme", "--expires", "30d"}, "tenant create does not take --expires"},
    {{"key", "revoke", "k_1", "--grace", "1h"}, "key revoke does not take --grace"},
    {{"tenant", "create", "acme", "--rate"}, "option --rate needs a value"},
    {{"tenant", "create", "acme", "--json=yes"}, "option --json takes no value"},
    {{"tenant", "list", "--redis-cluster=yes"}, "option --redis-cluster takes no value"},
    {{"tenant", "create", "acme", "--rate", "-1"}, "--rate: \"-1\" is not a whole number"},
    {{"tenant", "create", "acme", "--rate", "abc"}, "--rate: \"abc\" is not a whole number"},
    {{"tenant", "create", "acme", "--rate", "99999999999999999999"}, "--rate: \"99999999999999999999\" is too large"},
    {{"tenant", "create", "acme", "--burst", "1.5"}, "--burst: \"1.5\" is not a whole number"},
    {{"tenant", "create", "acme", "--quota", ""}, "--quota: \"\" is not a whole number"},
    {{"tenant", "create", "acme", "--rate", "1", "--rate", "2"}, "--rate given twice"},
    {{"tenant", "create", "acme", "--services", ""}, "--services: give at least one value"},
    {{"tenant", "create", "acme", "--services", "rag,*"}, "--services: '*' must stand alone"},
    {{"tenant", "create", "acme", "--services", "Rag"}, "--services: \"Rag\" is not a valid value"},
    {{"tenant", "create", "acme", "--scopes", "read,\x01x"}, "--scopes: \"?x\" is not a valid value"},
    /* a scope is an OAuth scope-token (sc_text_scope_token_valid), as in policies and JWTs */
    {{"tenant", "create", "acme", "--scopes", "read,a\"b"}, "--scopes: \"a\"b\" is not a valid value"},
    {{"key", "create", "acme", "--scopes", "a\\b"}, "--scopes: \"a\\b\" is not a valid value"},
    {{"tenant", "get", "a\nb"}, "invalid tenant ID \"a?b\""},
    {{"tenant", "create", "acme", "--issuer", "a b"}, "--issuer: \"a b\" is not a valid issuer"},
    {{"tenant", "create", "acme", "--issuer", "a", "--issuer", "*"}, "--issuer: '*' must stand alone"},
    {{"tenant", "update", "acme"}, "tenant update: nothing to change"},
    {{"key", "create", "acme", "--expires", "3x"}, "--expires: \"3x\" is not a duration"},
    {{"key", "create", "acme", "--expires", "-1d"}, "--expires: \"-1d\" is not a duration"},
    {{"key", "create", "acme", "--expires", "0"}, "--expires: must be more than 0"},
    {{"key", "create", "acme", "--scopes", "*"}, "--scopes: a key lists its scopes one by one"},
    {{"key", "create", "acme", "--name", "a\nb"}, "--name: must be 1 to 200 characters"},
    {{"key", "rotate", "k_1", "--grace", "-1h"}, "--grace: \"-1h\" is not a duration"},
    {{"key", "rotate", "k_1", "--grace", "1w"}, "--grace: \"1w\" is not a duration"},
    {{"tenant", "list", "--redis", ""}, "--redis: the value is empty"},
    {{"tenant", "list", "--redis", "redis://a", "--redis", "redis://b"}, "--redis given twice"},
    {{"tenant", "list", "--actor", "a\tb"}, "--actor: must be 1 to 128 characters"},
    /* operators' options (issue 13) */
    {{"tenant", "list", "--redis-password", "pw"}, "unknown option \"--redis-password\""},
    {{"tenant", "list", "--redis-user", "a b"}, "--redis-user: \"a b\" is not a valid user name"},
    {{"tenant", "list", "--redis-user", "a", "--redis-user", "b"}, "--redis-user given twice"},
    {{"tenant", "list", "--redis-password-file", ""}, "--redis-password-file: the value is empty"},
    {{"tenant", "list", "--audit-max-entries", "0"}, "--audit-max-entries: must be at least 1"},
    {{"tenant", "list", "--audit-max-entries", "ten"}, "--audit-max-entries: \"ten\" is not a whole number"},
    {{"audit", "acme"}, "audit: unexpected argument \"acme\""},
    {{"audit", "--tenant", "a b"}, "--tenant: invalid tenant ID \"a b\""},
    {{"audit", "--since", "yesterday"}, "--since: \"yesterday\" is neither"},
    {{"audit", "--since", "2026-02-30"}, "--since: \"2026-02-30\" is neither"},
    {{"audit", "--since", "2026-01-31T24:00:00Z"}, "--since: \"2026-01-31T24:00:00Z\" is neither"},
    {{"audit", "--since", "2026-01-31 08:00:00Z"}, "--since: \"2026-01-31 08:00:00Z\" is neither"},
    {{"audit", "--since", "1969-12-31"}, "--since: \"1969-12-31\" is neither"},
    {{"audit", "--dry-run"}, "audit does not take --dry-run"},
    {{"export", "--dry-run"}, "export does not take --dry-run"},
    {{"tenant", "delete", "acme", "--dry-run"}, "tenant delete does not take --dry-run"},
    {{"import", "f.json", "--dry-run=yes"}, "option --dry-run takes no value"},
    {{"tenant", "list", "--tenant", "acme"}, "tenant list does not take --tenant"},
    {{"token"}, "token: missing command (sign)"},
    {{"token", "sign", "--key-file", "k.pem", "--tenant", "acme"}, "token sign: --issuer is required"},
    {{"token", "sign", "--issuer", "a", "--issuer", "b", "--key-file", "k.pem", "--tenant", "acme"},
     "token sign: --issuer names exactly one"},
    {{"token", "sign", "--issuer", "*", "--key-file", "k.pem", "--tenant", "acme"}, "token sign: --issuer names exactly one"},
    {{"token", "sign", "--issuer", "a", "--tenant", "acme"}, "token sign: --key-file is required"},
    {{"token", "sign", "--issuer", "a", "--key-file", "k.pem"}, "token sign: --tenant is required"},
    {{"token", "sign", "--issuer", "a", "--key-file", "k.pem", "--tenant", "a b"}, "--tenant: invalid tenant ID"},
    {{"token", "sign", "--issuer", "a", "--key-file", "k.pem", "--tenant", "acme", "--scopes", "*"}, "--scopes: a token lists"},
    {{"token", "sign", "--issuer", "a", "--key-file", "k.pem", "--tenant", "acme", "--alg", "none"}, "--alg: \"none\" is not"},
    {{"token", "sign", "--issuer", "a", "--key-file", "k.pem", "--tenant", "acme", "--alg", "rs256"}, "--alg: \"rs256\" is not"},
    {{"token", "sign", "--issuer", "a", "--key-file", "k.pem", "--tenant", "acme", "--ttl", "0"}, "--ttl: must be more than 0"},
    {{"token", "sign", "--issuer", "a", "--key-file", "k.pem", "--tenant", "acme", "--claim", "novalue"},
     "--claim: \"novalue\" is not NAME=VALUE"},
    {{"token", "sign", "--issuer", "a", "--key-file", "k.pem", "--tenant", "acme", "--claim", "=x"},
     "--claim: \"=x\" is not NAME=VALUE"},
    {{"token", "sign", "--issuer", "a", "--key-file", "k.pem", "--tenant", "acme", "--claim", "exp=1"},
     "--claim: \"exp\" is set by sidecarctl"},
    {{"token", "sign", "--issuer", "a", "--key-file", "k.pem", "--tenant", "acme", "--claim", "x=1", "--claim", "x=2"},
     "--claim: \"x\" given twice"},
    {{"token", "sign", "--issuer", "a", "--key-file", "k.pem", "--tenant", "acme", "--sub", "a\nb"}, "--sub: must be 1 to 1024"},
    {{"token", "sign", "--issuer", "a", "--key-file", "k.pem", "--tenant", "acme", "--kid", "k", "--kid", "l"},
     "--kid given twice"},
    {{"token", "sign", "--issuer", "a", "--key-file", "k.pem", "--tenant", "acme", "--rate", "5"},
     "token sign does not take --rate"},
    {{"tenant", "create", "acme", "--key-file", "k.pem"}, "tenant create does not take --key-file"},
};

static void test_operator_options(void **state)
{
    (void)state;
    ctl_args_t a;
    PARSE_OK(&a, "--redis-user", "admin", "tenant", "list", "--redis-password-file=/etc/policy-sidecar/admin.pass",
             "--audit-max-entries", "5000");
    assert_int_equal(a.command, CTL_CMD_TENANT_LIST);
    assert_string_equal(a.redis_user, "admin");
    assert_string_equal(a.redis_password_file, "/etc/policy-sidecar/admin.pass");
    assert_int_equal(a.audit_max_entries, 5000);
    assert_null(a.config_file); /* the default host file is ctl_setup's business */
    ctl_args_free(&a);

    PARSE_OK(&a, "tenant", "list");
    assert_null(a.redis_user);
    assert_null(a.redis_password_file);
    assert_int_equal(a.audit_max_entries, 0);
    ctl_args_free(&a);

    PARSE_OK(&a, "import", "--dry-run", "backup.json");
    assert_int_equal(a.command, CTL_CMD_IMPORT);
    assert_string_equal(a.target, "backup.json");
    assert_int_equal(a.given, CTL_OPT_DRY_RUN);
    ctl_args_free(&a);
    PARSE_OK(&a, "import", "backup.json");
    assert_int_equal(a.given & CTL_OPT_DRY_RUN, 0);
    ctl_args_free(&a);
}

static void test_audit(void **state)
{
    (void)state;
    ctl_args_t a;
    PARSE_OK(&a, "audit");
    assert_int_equal(a.command, CTL_CMD_AUDIT);
    assert_string_equal(a.command_name, "audit");
    assert_null(a.tenant_filter);
    assert_int_equal(a.given, 0);
    ctl_args_free(&a);

    PARSE_OK(&a, "--json", "audit", "--tenant", "acme", "--since", "2h");
    assert_true(a.json);
    assert_string_equal(a.tenant_filter, "acme");
    assert_int_equal(a.given, CTL_OPT_TENANT | CTL_OPT_SINCE);
    assert_false(a.since_absolute);
    assert_int_equal(a.since_s, 7200);
    ctl_args_free(&a);

    PARSE_OK(&a, "audit", "--since=2026-01-31T08:00:00Z");
    assert_true(a.since_absolute);
    assert_int_equal(a.since_s, 1769846400);
    ctl_args_free(&a);
}

static void test_since(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t value;
        int absolute;
    } ok[] = {
        {"0", 0, 0},
        {"90m", 5400, 0},
        {"7d", 604800, 0},
        {"1970-01-01", 0, 1},
        {"1970-01-02T00:00:01Z", 86401, 1},
        {"2000-03-01", 951868800, 1},
        {"2024-02-29", 1709164800, 1}, /* a leap day */
        {"2026-12-31T23:59:59Z", 1798761599, 1},
    };
    for (size_t i = 0; i != sizeof(ok) / sizeof(ok[0]); ++i) {
        int64_t v = -1;
        int absolute = -1;
        if (ctl_parse_since(ok[i].text, &v, &absolute) != 0 || v != ok[i].value || absolute != ok[i].absolute)
            fail_msg("%s: got %lld (absolute %d)", ok[i].text, (long long)v, absolute);
    }
    static const char *const bad[] = {"",           "x",          "2026-1-01",           "2026-13-01",
                                      "2026-00-10", "2026-01-32", "2026-01-01T00:00:00", "2026-01-01T00:60:00Z",
                                      "2026/01/01", "2026-01-01Z"};
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        int64_t v;
        int absolute;
        if (ctl_parse_since(bad[i], &v, &absolute) == 0)
            fail_msg("\"%s\" was accepted", bad[i]);
    }
}

static void test_token_sign(void **state)
{
    (void)state;
    ctl_args_t a;
    PARSE_OK(&a, "token", "sign", "--issuer", "https://idp.test/", "--key-file", "k.pem", "--tenant", "acme");
    assert_int_equal(a.command, CTL_CMD_TOKEN_SIGN);
    assert_string_equal(a.command_name, "token sign");
    assert_string_equal(a.issuers, "https://idp.test/");
    assert_string_equal(a.key_file, "k.pem");
    assert_string_equal(a.tenant_filter, "acme");
    assert_int_equal(a.ttl_s, CTL_TOKEN_DEFAULT_TTL_S);
    assert_null(a.alg);
    assert_null(a.kid);
    assert_null(a.subject);
    assert_null(a.audience);
    assert_null(a.scopes);
    assert_null(a.tenant_claim);
    assert_int_equal(a.num_claims, 0);
    ctl_args_free(&a);

    PARSE_OK(&a, "-c", "host.yaml", "--json", "token", "sign", "--issuer=https://idp.test/", "--key-file", "k.pem", "--tenant",
             "acme", "--alg", "ES256", "--kid", "k1", "--sub", "alice", "--aud", "platform", "--scopes", "read,write", "--ttl",
             "2h", "--tenant-claim", "custom:tenant_id", "--claim", "token_use=access", "--claim", "client_id=app=1");
    assert_string_equal(a.config_file, "host.yaml");
    assert_true(a.json);
    assert_string_equal(a.alg, "ES256");
    assert_string_equal(a.kid, "k1");
    assert_string_equal(a.subject, "alice");
    assert_string_equal(a.audience, "platform");
    assert_string_equal(a.scopes, "read write");
    assert_int_equal(a.ttl_s, 7200);
    assert_string_equal(a.tenant_claim, "custom:tenant_id");
    assert_int_equal(a.num_claims, 2);
    assert_string_equal(a.claims[0], "token_use=access");
    assert_string_equal(a.claims[1], "client_id=app=1"); /* split at the first '=' */
    ctl_args_free(&a);
}

static void test_invalid_command_lines(void **state)
{
    (void)state;
    for (size_t i = 0; i != sizeof(invalid) / sizeof(invalid[0]); ++i) {
        ctl_args_t a;
        ctl_err_t err;
        int rc = parse_words(invalid[i].words, &a, &err);
        if (rc != CTL_EXIT_USAGE || strncmp(err.msg, invalid[i].prefix, strlen(invalid[i].prefix)) != 0)
            fail_msg("case %zu: status %d, message \"%s\"; expected 2 and \"%s...\"", i, rc, err.msg, invalid[i].prefix);
        assert_null(strchr(err.msg, '\n')); /* one line on stderr */
        ctl_args_free(&a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tenant_create_every_option),
        cmocka_unit_test(test_tenant_create_defaults),
        cmocka_unit_test(test_tenant_commands),
        cmocka_unit_test(test_tenant_update_star_and_duplicate_issuer),
        cmocka_unit_test(test_key_commands),
        cmocka_unit_test(test_export_import),
        cmocka_unit_test(test_global_options_anywhere),
        cmocka_unit_test(test_help_and_version_win),
        cmocka_unit_test(test_durations_and_counts),
        cmocka_unit_test(test_word_and_key_id_rules),
        cmocka_unit_test(test_operator_options),
        cmocka_unit_test(test_audit),
        cmocka_unit_test(test_since),
        cmocka_unit_test(test_token_sign),
        cmocka_unit_test(test_invalid_command_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
