/* Placeholders left from an example ("<region>", "<app-client-id>"): found anywhere in the host
 * file or a policy, and refused with file:line: key; values that merely contain "<" or ">" are
 * not placeholders, and comments are not values. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "conf_placeholder.h"
#include "config.h"
#include "policy_load.h"

#define HOST_FILE TEST_DATA_DIR "/host.yaml"
#define POLICY_FILE "policies/x.yaml"

static const struct {
    const char *text;
    int found;
    size_t at, len;
} finds[] = {
    {"<region>", 1, 0, 8},
    {"https://cognito-idp.<region>.amazonaws.com/<user-pool-id>", 1, 20, 8},
    {"<https://app.example.com>", 1, 0, 25},
    {"<your redis host>", 1, 0, 17}, /* spaces inside are still a placeholder */
    {"a<<b>", 1, 2, 3},              /* the innermost "<...>" */
    {"plain", 0, 0, 0},
    {"<>", 0, 0, 0},
    {"a < b", 0, 0, 0},
    {"b > a", 0, 0, 0},
    {"<unterminated", 0, 0, 0},
    {"<a\nb>", 0, 0, 0}, /* control characters end a candidate */
    {"><", 0, 0, 0},
    {"", 0, 0, 0},
};

static void test_find(void **state)
{
    (void)state;
    for (size_t i = 0; i != sizeof(finds) / sizeof(finds[0]); ++i) {
        size_t at = 99, len = 99;
        int found = sc_conf_placeholder_find(finds[i].text, strlen(finds[i].text), &at, &len);
        if (found != finds[i].found || (found && (at != finds[i].at || len != finds[i].len)))
            fail_msg("\"%s\": expected %d at %zu len %zu, got %d at %zu len %zu", finds[i].text, finds[i].found, finds[i].at,
                     finds[i].len, found, at, len);
    }
}

#define SVC(extra)                                                                                                                 \
    "services:\n"                                                                                                                  \
    "  - name: a\n"                                                                                                                \
    "    listen: 127.0.0.1:8500\n"                                                                                                 \
    "    upstream: http://127.0.0.1:5000\n"                                                                                        \
    "    policy: ok-policy.yaml\n" extra

#define ISSUER(issuer, audiences)                                                                                                  \
    "redis:\n  url: redis://127.0.0.1:6379/0\n"                                                                                    \
    "jwt_issuers:\n"                                                                                                               \
    "  - issuer: " issuer "\n"                                                                                                     \
    "    audiences: " audiences "\n"                                                                                               \
    "    jwks_file: " TEST_DATA_DIR "/../../fixtures/jwt/rs256.jwks.json\n"                                                        \
    "    algorithms: [RS256]\n"

static const struct {
    const char *name;
    const char *yaml;
    const char *expected; /* the error must contain this */
} host_cases[] = {
    {"issuer", ISSUER("https://cognito-idp.<region>.amazonaws.com/<user-pool-id>", "[x]") SVC(""),
     HOST_FILE ":4: jwt_issuers[0].issuer: still holds the placeholder \"<region>\": replace it with the real value"},
    {"a list item", ISSUER("https://idp.example/", "[ok, <app-client-id>]") SVC(""),
     HOST_FILE ":5: jwt_issuers[0].audiences[1]: still holds the placeholder \"<app-client-id>\""},
    {"deep in a service", SVC("    tls:\n      client_fingerprints_sha256: [\"<gateway-client-cert-sha256>\"]\n"),
     HOST_FILE ":7: services[0].tls.client_fingerprints_sha256[0]: still holds the placeholder \"<gateway-client-cert-sha256>\""},
    {"an otherwise valid value", "redis:\n  url: redis://127.0.0.1:6379/0\n  user: <redis-user>\n" SVC(""),
     HOST_FILE ":3: redis.user: still holds the placeholder \"<redis-user>\""},
    {"before any other error", "thread: <n>\n" SVC(""), HOST_FILE ":1: thread: still holds the placeholder \"<n>\""},
    {"a long one is cut",
     "access_log: /var/log/<"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa>\n" SVC(""),
     "\"<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\""},
};

static void test_host_file(void **state)
{
    (void)state;
    for (size_t i = 0; i != sizeof(host_cases) / sizeof(host_cases[0]); ++i) {
        char err[512] = "";
        sc_config_t *c = sc_config_load_string(host_cases[i].yaml, strlen(host_cases[i].yaml), HOST_FILE, err, sizeof(err));
        if (c != NULL) {
            sc_config_free(c);
            fail_msg("case \"%s\": accepted", host_cases[i].name);
        }
        if (strstr(err, host_cases[i].expected) == NULL)
            fail_msg("case \"%s\": expected \"%s\" in \"%s\"", host_cases[i].name, host_cases[i].expected, err);
    }
}

static void test_policy(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"cors:\n  allowed_origins: [\"<https://app.example.com>\"]\nroutes:\n  - path: /**\n    auth: none\n",
         POLICY_FILE ":2: cors.allowed_origins[0]: still holds the placeholder \"<https://app.example.com>\""},
        {"routes:\n  - path: /**\n    auth: jwt\n    scopes: [<service>:admin]\n",
         POLICY_FILE ":4: routes[0].scopes[0]: still holds the placeholder \"<service>\""},
        {"strip_prefix: /<service>\nroutes:\n  - path: /**\n    auth: none\n",
         POLICY_FILE ":1: strip_prefix: still holds the placeholder \"<service>\""},
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        char err[512] = "";
        sc_policy_t *p = sc_policy_load_string(cases[i][0], strlen(cases[i][0]), POLICY_FILE, err, sizeof(err));
        if (p != NULL) {
            sc_policy_free(p);
            fail_msg("policy %zu accepted", i);
        }
        if (strstr(err, cases[i][1]) == NULL)
            fail_msg("policy %zu: expected \"%s\" in \"%s\"", i, cases[i][1], err);
    }
}

/* Comments are not values, and "<" or ">" alone make no placeholder. */
static void test_not_placeholders(void **state)
{
    (void)state;
    static const char policy[] = "# replace <service> below\n"
                                 "mode: enforce  # or <report_only>\n"
                                 "cors:\n  allowed_origins: [https://app.example.com]  # <origin>\n"
                                 "routes:\n  - path: /**\n    auth: none\n";
    char err[512] = "";
    sc_policy_t *p = sc_policy_load_string(policy, strlen(policy), POLICY_FILE, err, sizeof(err));
    if (p == NULL)
        fail_msg("refused: %s", err);
    sc_policy_free(p);

    static const char host[] = "# issuer: https://cognito-idp.<region>.amazonaws.com/<user-pool-id>\n" ISSUER(
        "https://idp.example/", "[x]  # <app-client-id>") SVC("");
    sc_config_t *c = sc_config_load_string(host, strlen(host), HOST_FILE, err, sizeof(err));
    if (c == NULL)
        fail_msg("refused: %s", err);
    sc_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_host_file),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_not_placeholders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
