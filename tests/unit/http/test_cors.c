/* CORS: the policy's `cors:` section (valid, defaults, and a table of invalid ones with the line
 * and key each error must name), and the two request-side decisions that need no server:
 * is this a preflight, and is its Origin allowed. Requests are zeroed h2o_req_t structs with a
 * pool, a method and headers; functions that send responses are left to integration tests. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "cors.h"
#include "policy_load.h"

#define POLICY_FILE "policies/x.yaml"
#define ROUTES "routes:\n  - path: /**\n    auth: none\n"

static sc_policy_t *load(const char *text, char *err, size_t errsize)
{
    return sc_policy_load_string(text, strlen(text), POLICY_FILE, err, errsize);
}

static sc_policy_t *load_ok(const char *text)
{
    char err[512] = "";
    sc_policy_t *p = load(text, err, sizeof(err));
    if (p == NULL)
        fail_msg("policy refused: %s", err);
    return p;
}

/* ------------------------------------------------------------------ configuration */

static void test_config_full(void **state)
{
    (void)state;
    sc_policy_t *p = load_ok("cors:\n"
                             "  allowed_origins: [https://app.example.com, 'http://localhost:3000']\n"
                             "  allowed_methods: [POST, GET]\n"
                             "  allowed_headers: [Content-Type, X-Tenant-ID]\n"
                             "  max_age_s: 120\n" ROUTES);
    const sc_cors_t *c = &p->cors;
    assert_int_equal(c->enabled, 1);
    assert_int_equal(c->any_origin, 0);
    assert_int_equal(c->num_origins, 2);
    assert_string_equal(c->origins[0], "https://app.example.com");
    assert_string_equal(c->origins[1], "http://localhost:3000");
    assert_int_equal(c->methods, SC_METHOD_GET | SC_METHOD_POST);
    assert_string_equal(c->methods_text, "GET, POST"); /* in a fixed order */
    assert_int_equal(c->num_headers, 2);
    assert_string_equal(c->headers[0], "content-type"); /* lower case */
    assert_string_equal(c->headers[1], "x-tenant-id");
    assert_string_equal(c->headers_text, "content-type, x-tenant-id");
    assert_string_equal(c->max_age_text, "120");
    sc_policy_free(p);
}

static void test_config_defaults(void **state)
{
    (void)state;
    sc_policy_t *p = load_ok("cors:\n  allowed_origins: https://app.example.com\n" ROUTES);
    const sc_cors_t *c = &p->cors;
    assert_int_equal(c->enabled, 1);
    assert_int_equal(c->num_origins, 1); /* a single value is a list of one */
    assert_int_equal(c->methods,
                     SC_METHOD_GET | SC_METHOD_HEAD | SC_METHOD_POST | SC_METHOD_PUT | SC_METHOD_PATCH | SC_METHOD_DELETE);
    assert_string_equal(c->methods_text, "GET, HEAD, POST, PUT, PATCH, DELETE");
    assert_string_equal(c->headers_text, "content-type, authorization, x-api-key, x-tenant-id, x-amz-date, x-amz-security-token");
    assert_int_equal(c->num_headers, 6);
    assert_string_equal(c->max_age_text, "600");
    sc_policy_free(p);

    p = load_ok("cors:\n  allowed_origins: ['*']\n  max_age_s: 0\n" ROUTES);
    assert_int_equal(p->cors.any_origin, 1);
    assert_string_equal(p->cors.max_age_text, "0");
    sc_policy_free(p);

    p = load_ok("cors:\n  allowed_origins: ['https://a.example:8443']\n  max_age_s: 86400\n" ROUTES);
    assert_string_equal(p->cors.origins[0], "https://a.example:8443"); /* a port is part of an origin */
    assert_string_equal(p->cors.max_age_text, "86400");
    sc_policy_free(p);

    /* absent or null: no CORS, preflights are ordinary requests */
    p = load_ok(ROUTES);
    assert_int_equal(p->cors.enabled, 0);
    sc_policy_free(p);
    p = load_ok("cors:\n" ROUTES);
    assert_int_equal(p->cors.enabled, 0);
    sc_policy_free(p);
}

#define CORS(lines) "cors:\n" lines ROUTES

static const struct {
    const char *name;
    const char *yaml;
    const char *expected; /* the error must contain this */
} invalid[] = {
    {"origin with a path", CORS("  allowed_origins: [https://app.example.com/app]\n"),
     POLICY_FILE ":2: cors.allowed_origins: \"https://app.example.com/app\" must be an origin"},
    {"origin with a deeper path, second in the list", CORS("  allowed_origins: [https://a.example, https://b.example/x/y]\n"),
     POLICY_FILE ":2: cors.allowed_origins: \"https://b.example/x/y\" must be an origin"},
    {"origin with a query", CORS("  allowed_origins: ['https://app.example.com?x=1']\n"),
     POLICY_FILE ":2: cors.allowed_origins: \"https://app.example.com?x=1\" must be an origin"},
    {"origin with a trailing slash", CORS("  allowed_origins: [https://app.example.com/]\n"),
     POLICY_FILE ":2: cors.allowed_origins: \"https://app.example.com/\" must be an origin"},
    {"origin without scheme", CORS("  allowed_origins: [app.example.com]\n"),
     POLICY_FILE ":2: cors.allowed_origins: \"app.example.com\" must be an origin"},
    {"origin with another scheme", CORS("  allowed_origins: ['ftp://app.example.com']\n"),
     POLICY_FILE ":2: cors.allowed_origins: \"ftp://app.example.com\" must be an origin"},
    {"wildcard subdomain", CORS("  allowed_origins: ['https://*.example.com']\n"),
     POLICY_FILE ":2: cors.allowed_origins: \"https://*.example.com\" must be an origin"},
    {"two origins in one value", CORS("  allowed_origins: 'https://a.example, https://b.example'\n"),
     POLICY_FILE ":2: cors.allowed_origins: \"https://a.example, https://b.example\" must be an origin"},
    {"missing origins", CORS("  max_age_s: 10\n"), POLICY_FILE ":2: cors.allowed_origins: is required"},
    {"empty origin", CORS("  allowed_origins: ['']\n"), POLICY_FILE ":2: cors.allowed_origins[0]: must be a non-empty value"},
    {"unknown method", CORS("  allowed_origins: ['*']\n  allowed_methods: [GET, FETCH]\n"),
     POLICY_FILE ":3: cors.allowed_methods: unknown method \"FETCH\""},
    {"lower-case method", CORS("  allowed_origins: ['*']\n  allowed_methods: [get]\n"),
     POLICY_FILE ":3: cors.allowed_methods: unknown method \"get\""},
    {"method CONNECT", CORS("  allowed_origins: ['*']\n  allowed_methods: CONNECT\n"),
     POLICY_FILE ":3: cors.allowed_methods: unknown method \"CONNECT\""},
    {"max_age_s above a day", CORS("  allowed_origins: ['*']\n  max_age_s: 86401\n"),
     POLICY_FILE ":3: cors.max_age_s: 86401 is out of range [0, 86400]"},
    {"negative max_age_s", CORS("  allowed_origins: ['*']\n  max_age_s: -1\n"),
     POLICY_FILE ":3: cors.max_age_s: \"-1\" is not a whole number"},
    {"max_age_s not a number", CORS("  allowed_origins: ['*']\n  max_age_s: 10m\n"),
     POLICY_FILE ":3: cors.max_age_s: \"10m\" is not a whole number"},
    {"unknown key", CORS("  allowed_origins: ['*']\n  allow_credentials: true\n"),
     POLICY_FILE ":3: cors.allow_credentials: unknown key"},
    {"headers as a mapping", CORS("  allowed_origins: ['*']\n  allowed_headers: {a: 1}\n"),
     POLICY_FILE ":3: cors.allowed_headers: must be a list of values"},
    {"not a mapping", "cors: yes\n" ROUTES, POLICY_FILE ":1: cors: must be a mapping"},
};

static void test_config_invalid(void **state)
{
    (void)state;
    int failed = 0;
    for (size_t i = 0; i != sizeof(invalid) / sizeof(invalid[0]); ++i) {
        char err[1024] = "";
        sc_policy_t *p = load(invalid[i].yaml, err, sizeof(err));
        if (p != NULL || strstr(err, invalid[i].expected) == NULL) {
            print_error("case \"%s\": expected error containing\n  %s\ngot\n  %s\n", invalid[i].name, invalid[i].expected,
                        p != NULL ? "(loaded)" : err);
            failed = 1;
        }
        sc_policy_free(p);
    }
    if (failed)
        fail();
}

/* ------------------------------------------------------------------ requests */

typedef struct {
    const char *method;
    const char *headers[8]; /* name, value, name, value... */
} request_spec_t;

/* A zeroed request with a pool, the method and the headers; release with h2o_mem_clear_pool. */
static void fake_request(h2o_req_t *req, const request_spec_t *spec)
{
    memset(req, 0, sizeof(*req));
    h2o_mem_init_pool(&req->pool);
    req->method = h2o_iovec_init(spec->method, strlen(spec->method));
    for (const char *const *h = spec->headers; *h != NULL; h += 2)
        h2o_add_header_by_str(&req->pool, &req->headers, h[0], strlen(h[0]), 1, NULL, h[1], strlen(h[1]));
}

static const struct {
    const char *name;
    request_spec_t req;
    int preflight;
    const char *requested_method;
} preflights[] = {
    {"preflight", {"OPTIONS", {"origin", "https://app.example.com", "access-control-request-method", "POST"}}, 1, "POST"},
    {"preflight with request headers",
     {"OPTIONS",
      {"origin", "https://app.example.com", "access-control-request-method", "PUT", "access-control-request-headers",
       "content-type"}},
     1,
     "PUT"},
    {"mixed-case header names", {"OPTIONS", {"Origin", "https://a.example", "Access-Control-Request-Method", "GET"}}, 1, "GET"},
    {"GET with preflight headers",
     {"GET", {"origin", "https://app.example.com", "access-control-request-method", "POST"}},
     0,
     NULL},
    {"lower-case options", {"options", {"origin", "https://app.example.com", "access-control-request-method", "POST"}}, 0, NULL},
    {"OPTIONS without Origin", {"OPTIONS", {"access-control-request-method", "POST"}}, 0, NULL},
    {"OPTIONS without Access-Control-Request-Method", {"OPTIONS", {"origin", "https://app.example.com"}}, 0, NULL},
    {"plain OPTIONS", {"OPTIONS", {0}}, 0, NULL},
    {"two Origin headers",
     {"OPTIONS", {"origin", "https://app.example.com", "origin", "https://evil.example", "access-control-request-method", "POST"}},
     0,
     NULL},
    {"two Access-Control-Request-Method headers",
     {"OPTIONS",
      {"origin", "https://app.example.com", "access-control-request-method", "POST", "access-control-request-method", "GET"}},
     0,
     NULL},
};

static void test_is_preflight(void **state)
{
    (void)state;
    for (size_t i = 0; i != sizeof(preflights) / sizeof(preflights[0]); ++i) {
        h2o_req_t req;
        fake_request(&req, &preflights[i].req);
        h2o_iovec_t method = {NULL, 0};
        int got = sc_cors_is_preflight(&req, &method);
        int method_ok = !preflights[i].preflight ||
                        h2o_memis(method.base, method.len, preflights[i].requested_method, strlen(preflights[i].requested_method));
        h2o_mem_clear_pool(&req.pool);
        if (got != preflights[i].preflight || !method_ok)
            fail_msg("case \"%s\": expected %s %s, got %d", preflights[i].name,
                     preflights[i].preflight ? "a preflight for" : "not a preflight",
                     preflights[i].preflight ? preflights[i].requested_method : "", got);
    }
}

static const char listed_policy[] = "cors:\n  allowed_origins: [https://app.example.com, 'http://localhost:3000']\n" ROUTES;
static const char any_policy[] = "cors:\n  allowed_origins: ['*']\n" ROUTES;

static const struct {
    const char *name;
    const char *policy;
    const char *headers[8];
    int allowed; /* 1: the request's own Origin comes back */
} origins[] = {
    {"listed origin", listed_policy, {"origin", "https://app.example.com"}, 1},
    {"second listed origin", listed_policy, {"origin", "http://localhost:3000"}, 1},
    {"origin not listed", listed_policy, {"origin", "https://evil.example"}, 0},
    {"listed origin on another port", listed_policy, {"origin", "https://app.example.com:8443"}, 0},
    {"listed origin over http", listed_policy, {"origin", "http://app.example.com"}, 0},
    {"listed origin as a prefix", listed_policy, {"origin", "https://app.example.com.evil.example"}, 0},
    {"prefix of a listed origin", listed_policy, {"origin", "https://app.example.co"}, 0},
    {"listed origin with a trailing slash", listed_policy, {"origin", "https://app.example.com/"}, 0},
    {"null origin", listed_policy, {"origin", "null"}, 0},
    {"missing Origin", listed_policy, {"referer", "https://app.example.com/page"}, 0},
    {"two Origin headers, both listed", listed_policy, {"origin", "https://app.example.com", "origin", "http://localhost:3000"}, 0},
    {"two Origin headers, one listed", listed_policy, {"origin", "https://evil.example", "origin", "https://app.example.com"}, 0},
    {"any origin", any_policy, {"origin", "https://anything.example"}, 1},
    {"any origin, missing Origin", any_policy, {"accept", "*/*"}, 0},
    {"any origin, two Origin headers", any_policy, {"origin", "https://a.example", "origin", "https://b.example"}, 0},
    {"CORS not configured", ROUTES, {"origin", "https://app.example.com"}, 0},
};

static void test_allowed_origin(void **state)
{
    (void)state;
    for (size_t i = 0; i != sizeof(origins) / sizeof(origins[0]); ++i) {
        sc_policy_t *p = load_ok(origins[i].policy);
        request_spec_t spec = {.method = "GET"};
        memcpy(spec.headers, origins[i].headers, sizeof(spec.headers));
        h2o_req_t req;
        fake_request(&req, &spec);
        h2o_iovec_t got = sc_cors_allowed_origin(&p->cors, &req);
        /* the value returned is the request's own header, byte for byte */
        int ok = origins[i].allowed ? got.base == req.headers.entries[0].value.base && got.len == strlen(origins[i].headers[1])
                                    : got.base == NULL;
        h2o_mem_clear_pool(&req.pool);
        sc_policy_free(p);
        if (!ok)
            fail_msg("case \"%s\": expected %s", origins[i].name, origins[i].allowed ? "the Origin back" : "no origin");
    }
}

static const char narrow_policy[] = "cors:\n  allowed_origins: [https://app.example.com]\n  allowed_methods: [GET, POST]\n"
                                    "  allowed_headers: [content-type, x-tenant-id]\n" ROUTES;

static const struct {
    const char *name;
    const char *headers[8];
    const char *requested_method;
    int allowed;
} preflight_decisions[] = {
    {"listed origin, method and headers",
     {"origin", "https://app.example.com", "access-control-request-headers", "Content-Type, X-Tenant-ID"},
     "POST",
     1},
    {"no requested headers", {"origin", "https://app.example.com"}, "GET", 1},
    {"unlisted origin", {"origin", "https://evil.example"}, "GET", 0},
    {"unlisted method", {"origin", "https://app.example.com"}, "DELETE", 0},
    {"unknown method", {"origin", "https://app.example.com"}, "PROPFIND", 0},
    {"one unlisted header among listed ones",
     {"origin", "https://app.example.com", "access-control-request-headers", "content-type,x-secret-admin"},
     "POST",
     0},
    {"requested headers sent twice",
     {"origin", "https://app.example.com", "access-control-request-headers", "content-type", "access-control-request-headers",
      "x-tenant-id"},
     "POST",
     0},
};

/* The decision alone: the pipeline turns a refusal into the cors_not_allowed denial (enforce
 * answers 403, report_only forwards), so it must not depend on who answers. */
static void test_preflight_allowed(void **state)
{
    (void)state;
    sc_policy_t *p = load_ok(narrow_policy);
    for (size_t i = 0; i != sizeof(preflight_decisions) / sizeof(preflight_decisions[0]); ++i) {
        request_spec_t spec = {.method = "OPTIONS"};
        memcpy(spec.headers, preflight_decisions[i].headers, sizeof(spec.headers));
        h2o_req_t req;
        fake_request(&req, &spec);
        h2o_iovec_t origin = sc_cors_allowed_origin(&p->cors, &req);
        const char *m = preflight_decisions[i].requested_method;
        int got = sc_cors_preflight_allowed(&p->cors, &req, origin, h2o_iovec_init(m, strlen(m)));
        h2o_mem_clear_pool(&req.pool);
        if (got != preflight_decisions[i].allowed) {
            sc_policy_free(p);
            fail_msg("case \"%s\": expected %s", preflight_decisions[i].name,
                     preflight_decisions[i].allowed ? "allowed" : "refused");
        }
    }
    sc_policy_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_full),  cmocka_unit_test(test_config_defaults), cmocka_unit_test(test_config_invalid),
        cmocka_unit_test(test_is_preflight), cmocka_unit_test(test_allowed_origin),  cmocka_unit_test(test_preflight_allowed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
