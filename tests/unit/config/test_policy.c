/* Policy files and route matching. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "policy.h"
#include "policy_load.h"

static sc_policy_t *load(const char *text, char *err, size_t errsize)
{
    return sc_policy_load_string(text, strlen(text), "policies/x.yaml", err, errsize);
}

static const char *const platform_policy = "mode: report_only\n"
                                           "strip_prefix: /langchain\n"
                                           "routes:\n"
                                           "  - path: /langchain/health\n"
                                           "    methods: [GET]\n"
                                           "    auth: none\n"
                                           "  - path: /langchain/admin/**\n"
                                           "    methods: [POST, DELETE]\n"
                                           "    auth: jwt\n"
                                           "  - path: /langchain/**\n"
                                           "    auth: [jwt, api_key]\n";

static const sc_route_t *match(const sc_policy_t *p, const char *method, const char *path)
{
    return sc_policy_match(p, method, strlen(method), path, strlen(path));
}

static void test_load_valid(void **state)
{
    (void)state;
    char err[512] = "";
    sc_policy_t *p = load(platform_policy, err, sizeof(err));
    assert_non_null(p);
    assert_int_equal(p->mode, SC_POLICY_REPORT_ONLY);
    assert_string_equal(p->strip_prefix, "/langchain");
    assert_int_equal(p->num_routes, 3);
    assert_int_equal(p->routes[0].auth, 0);
    assert_int_equal(p->routes[0].methods, SC_METHOD_GET);
    assert_int_equal(p->routes[0].line, 4);
    assert_int_equal(p->routes[1].auth, SC_AUTH_JWT);
    assert_int_equal(p->routes[1].methods, SC_METHOD_POST | SC_METHOD_DELETE);
    assert_int_equal(p->routes[2].auth, SC_AUTH_JWT | SC_AUTH_API_KEY);
    assert_int_equal(p->routes[2].methods, 0);
    sc_policy_free(p);
}

static void test_match_first_wins(void **state)
{
    (void)state;
    char err[512];
    sc_policy_t *p = load(platform_policy, err, sizeof(err));
    assert_ptr_equal(match(p, "GET", "/langchain/health"), &p->routes[0]);
    /* method not listed on the public route: falls through to the protected subtree */
    assert_ptr_equal(match(p, "POST", "/langchain/health"), &p->routes[2]);
    /* exact routes do not cover sub-paths or a trailing slash */
    assert_ptr_equal(match(p, "GET", "/langchain/health/x"), &p->routes[2]);
    assert_ptr_equal(match(p, "GET", "/langchain/health/"), &p->routes[2]);
    assert_ptr_equal(match(p, "DELETE", "/langchain/admin/users/1"), &p->routes[1]);
    assert_ptr_equal(match(p, "GET", "/langchain/admin/users/1"), &p->routes[2]);
    /* a subtree covers its root */
    assert_ptr_equal(match(p, "GET", "/langchain"), &p->routes[2]);
    /* ...but not a sibling that shares the prefix */
    assert_null(match(p, "GET", "/langchainx"));
    assert_null(match(p, "GET", "/langchainx/health"));
    assert_null(match(p, "GET", "/"));
    assert_null(match(p, "GET", "/tools/x"));
    /* case matters */
    assert_null(match(p, "GET", "/LangChain/health"));
    assert_ptr_equal(match(p, "get", "/langchain/health"), &p->routes[2]);
    /* methods outside the known set still match routes that allow any method */
    assert_ptr_equal(match(p, "PROPFIND", "/langchain/x"), &p->routes[2]);
    assert_ptr_equal(match(p, "PROPFIND", "/langchain/health"), &p->routes[2]);
    sc_policy_free(p);
}

/* A route's GET covers HEAD (a HEAD health check on a GET-only public route used to fall through
 * to the protected subtree and get 401); nothing else gains HEAD. */
static void test_get_allows_head(void **state)
{
    (void)state;
    char err[512];
    sc_policy_t *p = load(platform_policy, err, sizeof(err));
    assert_ptr_equal(match(p, "HEAD", "/langchain/health"), &p->routes[0]);
    /* POST/DELETE only: HEAD is not theirs, it goes on to the next route */
    assert_ptr_equal(match(p, "HEAD", "/langchain/admin/users"), &p->routes[2]);
    assert_int_equal(p->routes[0].methods, SC_METHOD_GET); /* the configuration itself is as written */
    sc_policy_free(p);

    p = load("routes:\n"
             "  - path: /get\n    methods: [GET]\n    auth: none\n"
             "  - path: /post\n    methods: [POST]\n    auth: none\n"
             "  - path: /head\n    methods: [HEAD]\n    auth: none\n",
             err, sizeof(err));
    assert_non_null(p);
    assert_ptr_equal(match(p, "HEAD", "/get"), &p->routes[0]);
    assert_null(match(p, "HEAD", "/post"));
    assert_null(match(p, "GET", "/head")); /* HEAD does not imply GET */
    assert_ptr_equal(match(p, "HEAD", "/head"), &p->routes[2]);
    assert_null(match(p, "head", "/get")); /* methods are case-sensitive */
    sc_policy_free(p);
}

static void test_match_everything(void **state)
{
    (void)state;
    char err[512];
    sc_policy_t *p = load("routes:\n  - path: /**\n    auth: none\n", err, sizeof(err));
    assert_non_null(p);
    assert_ptr_equal(match(p, "GET", "/"), &p->routes[0]);
    assert_ptr_equal(match(p, "PUT", "/a/b/c"), &p->routes[0]);
    sc_policy_free(p);
}

static void test_strip_prefix(void **state)
{
    (void)state;
    char err[512];
    size_t len;
    sc_policy_t *p = load(platform_policy, err, sizeof(err));
    const char *out = sc_policy_strip(p, "/langchain/v1/invoke", 20, &len);
    assert_int_equal(len, 10);
    assert_memory_equal(out, "/v1/invoke", 10);
    out = sc_policy_strip(p, "/langchain", 10, &len);
    assert_int_equal(len, 1);
    assert_memory_equal(out, "/", 1);
    out = sc_policy_strip(p, "/langchainx/a", 13, &len); /* not within the prefix: unchanged */
    assert_int_equal(len, 13);
    assert_memory_equal(out, "/langchainx/a", 13);
    sc_policy_free(p);
}

static const struct {
    const char *name;
    const char *yaml;
    const char *expected;
} invalid[] = {
    {"unknown method", "routes:\n  - path: /x\n    auth: none\n  - path: /y\n    methods: [GET, GIT]\n    auth: none\n",
     "policies/x.yaml:5: routes[1].methods[1]: unknown method \"GIT\""},
    {"lower-case method", "routes:\n  - path: /x\n    methods: get\n    auth: none\n",
     "policies/x.yaml:3: routes[0].methods[0]: unknown method \"get\""},
    {"empty methods", "routes:\n  - path: /x\n    methods: []\n    auth: none\n",
     "policies/x.yaml:3: routes[0].methods: must list"},
    {"unknown route key", "routes:\n  - path: /x\n    auth: none\n    scope: [a]\n",
     "policies/x.yaml:4: routes[0].scope: unknown key"},
    {"unknown top key", "mod: enforce\nroutes: []\n", "policies/x.yaml:1: mod: unknown key"},
    {"bad mode", "mode: audit\nroutes:\n  - path: /x\n    auth: none\n", "policies/x.yaml:1: mode: unknown mode \"audit\""},
    {"missing routes", "mode: enforce\n", "policies/x.yaml:1: routes: is required"},
    {"empty routes", "routes: []\n", "policies/x.yaml:1: routes: must list at least one route"},
    {"route not a mapping", "routes:\n  - /x\n", "policies/x.yaml:2: routes[0]: must be a mapping"},
    {"missing path", "routes:\n  - auth: none\n", "policies/x.yaml:2: routes[0].path: is required"},
    {"missing auth", "routes:\n  - path: /x\n", "policies/x.yaml:2: routes[0].auth: is required"},
    {"unknown auth", "routes:\n  - path: /x\n    auth: basic\n",
     "policies/x.yaml:3: routes[0].auth: unknown authentication \"basic\""},
    {"none mixed", "routes:\n  - path: /x\n    auth: [none, jwt]\n", "policies/x.yaml:3: routes[0].auth: none cannot be combined"},
    {"relative path", "routes:\n  - path: x/y\n    auth: none\n", "policies/x.yaml:2: routes[0].path: \"x/y\" must start with /"},
    {"dot segment", "routes:\n  - path: /a/../b\n    auth: none\n",
     "policies/x.yaml:2: routes[0].path: \"/a/../b\" must not contain"},
    {"inner wildcard", "routes:\n  - path: /a/*/b\n    auth: none\n",
     "policies/x.yaml:2: routes[0].path: \"/a/*/b\": a wildcard is only"},
    {"single star", "routes:\n  - path: /a/*\n    auth: none\n", "policies/x.yaml:2: routes[0].path: \"/a/*\": a wildcard is only"},
    {"trailing slash", "routes:\n  - path: /a/\n    auth: none\n",
     "policies/x.yaml:2: routes[0].path: \"/a/\" must not end with /"},
    {"percent", "routes:\n  - path: /a%2f\n    auth: none\n", "policies/x.yaml:2: routes[0].path: \"/a%2f\" contains"},
    {"query", "routes:\n  - path: /a?b\n    auth: none\n", "policies/x.yaml:2: routes[0].path: \"/a?b\" contains"},
    {"strip trailing slash", "strip_prefix: /a/\nroutes:\n  - path: /x\n    auth: none\n",
     "policies/x.yaml:1: strip_prefix: \"/a/\" must be"},
    {"strip root", "strip_prefix: /\nroutes:\n  - path: /x\n    auth: none\n", "policies/x.yaml:1: strip_prefix: \"/\" must be"},
    {"path is a list", "routes:\n  - path: [/a]\n    auth: none\n", "policies/x.yaml:2: routes[0].path: must be a single value"},
};

static void test_invalid_policies(void **state)
{
    (void)state;
    for (size_t i = 0; i != sizeof(invalid) / sizeof(invalid[0]); ++i) {
        char err[1024] = "";
        sc_policy_t *p = load(invalid[i].yaml, err, sizeof(err));
        if (p != NULL || strstr(err, invalid[i].expected) == NULL) {
            print_error("case \"%s\": expected error containing\n  %s\ngot\n  %s\n", invalid[i].name, invalid[i].expected,
                        p != NULL ? "(loaded)" : err);
            sc_policy_free(p);
            fail();
        }
    }
}

static void test_method_bits(void **state)
{
    (void)state;
    assert_int_equal(sc_policy_method_bit("GET", 3), SC_METHOD_GET);
    assert_int_equal(sc_policy_method_bit("OPTIONS", 7), SC_METHOD_OPTIONS);
    assert_int_equal(sc_policy_method_bit("GETX", 4), 0);
    assert_int_equal(sc_policy_method_bit("GE", 2), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_valid),       cmocka_unit_test(test_match_first_wins), cmocka_unit_test(test_get_allows_head),
        cmocka_unit_test(test_match_everything), cmocka_unit_test(test_strip_prefix),     cmocka_unit_test(test_invalid_policies),
        cmocka_unit_test(test_method_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
