/* Identity decisions over already-fetched data: the X-Tenant-ID header, API key state, and the
 * tenant rules of sc_identity_authorize in the order identity.h lists them, with the exact
 * scope string granted to the backend. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "identity.h"

#define A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

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

/* ------------------------------------------------------------------ X-Tenant-ID */

static const struct {
    const char *name;
    const char *headers[8]; /* name, value, name, value... */
    const char *reason;     /* NULL: accepted */
    const char *tenant;     /* when accepted */
} tenant_headers[] = {
    {"one header", {"x-tenant-id", "acme"}, NULL, "acme"},
    {"among other headers", {"accept", "*/*", "x-tenant-id", "Acme-2.eu_x", "x-api-key", "k"}, NULL, "Acme-2.eu_x"},
    {"mixed-case name", {"X-Tenant-ID", "acme"}, NULL, "acme"},
    {"underscore spelling alone (one header for a CGI backend)", {"x_tenant_id", "acme"}, NULL, "acme"},
    {"64 characters", {"x-tenant-id", A64}, NULL, A64},
    {"missing", {"accept", "*/*"}, "tenant_header_missing", NULL},
    {"no headers at all", {0}, "tenant_header_missing", NULL},
    {"similar name is not the header", {"x-tenant", "acme", "x-tenant-ids", "acme"}, "tenant_header_missing", NULL},
    {"repeated, same value", {"x-tenant-id", "acme", "x-tenant-id", "acme"}, "tenant_header_repeated", NULL},
    {"repeated, different values", {"x-tenant-id", "acme", "x-tenant-id", "globex"}, "tenant_header_repeated", NULL},
    {"repeated via underscore spelling", {"x-tenant-id", "acme", "x_tenant_id", "globex"}, "tenant_header_repeated", NULL},
    {"repeated via upper-case underscore spelling",
     {"X_TENANT_ID", "globex", "x-tenant-id", "acme"},
     "tenant_header_repeated",
     NULL},
    {"comma list", {"x-tenant-id", "acme,globex"}, "tenant_header_repeated", NULL},
    {"comma list with space", {"x-tenant-id", "acme, globex"}, "tenant_header_repeated", NULL},
    {"empty value", {"x-tenant-id", ""}, "tenant_header_invalid", NULL},
    {"65 characters", {"x-tenant-id", A64 "a"}, "tenant_header_invalid", NULL},
    {"space", {"x-tenant-id", "ac me"}, "tenant_header_invalid", NULL},
    {"hash-tag braces", {"x-tenant-id", "acme}{globex"}, "tenant_header_invalid", NULL},
    {"colon", {"x-tenant-id", "acme:key"}, "tenant_header_invalid", NULL},
    {"slash", {"x-tenant-id", "../acme"}, "tenant_header_invalid", NULL},
    {"UTF-8", {"x-tenant-id", "acm\xc3\xa9"}, "tenant_header_invalid", NULL},
};

static void test_tenant_header(void **state)
{
    (void)state;
    for (size_t i = 0; i != sizeof(tenant_headers) / sizeof(tenant_headers[0]); ++i) {
        h2o_headers_t headers = {0};
        for (const char *const *h = tenant_headers[i].headers; *h != NULL; h += 2)
            h2o_add_header_by_str(&pool, &headers, h[0], strlen(h[0]), 1, NULL, h[1], strlen(h[1]));
        h2o_iovec_t tenant = {NULL, 0};
        const sc_denial_t *d = sc_identity_tenant_header(&headers, &tenant);
        const char *expected = tenant_headers[i].reason;
        if (expected == NULL) {
            if (d != NULL)
                fail_msg("case \"%s\": expected acceptance, got %s", tenant_headers[i].name, d->reason);
            if (!h2o_memis(tenant.base, tenant.len, tenant_headers[i].tenant, strlen(tenant_headers[i].tenant)))
                fail_msg("case \"%s\": expected tenant \"%s\", got \"%.*s\"", tenant_headers[i].name, tenant_headers[i].tenant,
                         (int)tenant.len, tenant.base);
        } else if (d == NULL || strcmp(d->reason, expected) != 0 || d->status != 400) {
            fail_msg("case \"%s\": expected 400 %s, got %s", tenant_headers[i].name, expected,
                     d != NULL ? d->reason : "acceptance");
        }
    }
}

/* ------------------------------------------------------------------ API keys */

#define NOW 1700000000

static const struct {
    const char *name;
    int active;
    int64_t expires_at;
    int64_t now;
    const char *reason; /* NULL: accepted */
} apikeys[] = {
    {"active, never expires", 1, 0, NOW, NULL},
    {"never expires, far future", 1, 0, INT64_MAX, NULL},
    {"active, expires later", 1, NOW + 1, NOW, NULL},
    {"expires exactly now", 1, NOW, NOW, "api_key_expired"},
    {"expired", 1, NOW - 1, NOW, "api_key_expired"},
    {"revoked", 0, 0, NOW, "api_key_revoked"},
    {"revoked and expired: revocation is reported", 0, NOW - 1, NOW, "api_key_revoked"},
};

static void test_check_apikey(void **state)
{
    (void)state;
    for (size_t i = 0; i != sizeof(apikeys) / sizeof(apikeys[0]); ++i) {
        sc_apikey_record_t key = {
            .tenant = "acme", .key_id = "k1", .active = apikeys[i].active, .expires_at = apikeys[i].expires_at};
        const sc_denial_t *d = sc_identity_check_apikey(&key, apikeys[i].now);
        const char *expected = apikeys[i].reason;
        if (expected == NULL ? d != NULL : d == NULL || strcmp(d->reason, expected) != 0 || d->status != 401)
            fail_msg("case \"%s\": expected %s, got %s", apikeys[i].name, expected != NULL ? expected : "acceptance",
                     d != NULL ? d->reason : "acceptance");
    }
}

/* ------------------------------------------------------------------ authorize */

typedef struct {
    const char *name;
    const char *tenant_id;         /* of the record; "acme" when NULL */
    const char *tenant_fields[16]; /* HGETALL strings; status active and every service when empty */
    unsigned method;               /* SC_AUTH_JWT when 0 */
    const char *id_tenant;         /* the credential's tenant; "acme" when NULL */
    const char *issuer;            /* JWTs; "https://idp.example.com" when NULL */
    const char *scopes;            /* the credential's, space-separated; none when NULL */
    const char *header;            /* X-Tenant-ID; "acme" when NULL */
    const char *route_scopes[4];
    const char *reason;  /* expected denial; NULL: allowed */
    const char *granted; /* when allowed */
} authorize_case_t;

static h2o_iovec_t str(const char *s)
{
    return h2o_iovec_init(s, strlen(s));
}

/* Splits a space-separated list into iovecs in the pool. */
static h2o_iovec_t *split_scopes(const char *list, size_t *count)
{
    h2o_iovec_t *out = h2o_mem_alloc_pool(&pool, 16 * sizeof(*out));
    *count = 0;
    for (const char *p = list; p != NULL && *p != '\0';) {
        size_t len = strcspn(p, " ");
        if (len != 0) {
            assert_true(*count < 16);
            out[(*count)++] = h2o_iovec_init(p, len);
        }
        p += len + (p[len] == ' ');
    }
    return out;
}

static void run_authorize_cases(const authorize_case_t *cases, size_t n)
{
    for (size_t i = 0; i != n; ++i) {
        const authorize_case_t *c = &cases[i];
        const char *strs[16];
        size_t lens[16], count = 0;
        static const char *const default_fields[] = {"status", "active", "services", "*"};
        const char *const *src = c->tenant_fields[0] != NULL ? c->tenant_fields : default_fields;
        size_t src_count = c->tenant_fields[0] != NULL ? 16 : 4;
        for (; count != src_count && src[count] != NULL; ++count) {
            strs[count] = src[count];
            lens[count] = strlen(src[count]);
        }
        char err[256];
        sc_tenant_record_t *t = NULL;
        if (sc_schema_tenant_parse(c->tenant_id != NULL ? c->tenant_id : "acme", strs, lens, count, &t, err, sizeof(err)) != 0)
            fail_msg("case \"%s\": bad tenant fixture: %s", c->name, err);

        sc_identity_t id = {.method = c->method != 0 ? c->method : SC_AUTH_JWT,
                            .tenant = str(c->id_tenant != NULL ? c->id_tenant : "acme"),
                            .subject = str("user-1")};
        if (id.method == SC_AUTH_JWT)
            id.issuer = str(c->issuer != NULL ? c->issuer : "https://idp.example.com");
        else
            id.key_id = str("k1");
        id.scopes = split_scopes(c->scopes, &id.num_scopes);

        sc_route_t route = {.path = "/**", .prefix = "", .subtree = 1, .auth = SC_AUTH_JWT | SC_AUTH_API_KEY};
        char *route_scopes[4];
        for (; route.num_scopes != 4 && c->route_scopes[route.num_scopes] != NULL; ++route.num_scopes)
            route_scopes[route.num_scopes] = (char *)c->route_scopes[route.num_scopes];
        route.scopes = route_scopes;

        h2o_iovec_t granted = {NULL, 0};
        const sc_denial_t *d = sc_identity_authorize(&id, t, str(c->header != NULL ? c->header : "acme"), "langchain", &route,
                                                     SC_ISSUERS_DEFAULT_ANY, &pool, &granted);
        sc_schema_tenant_free(t);

        if (c->reason != NULL) {
            if (d == NULL || strcmp(d->reason, c->reason) != 0 || d->status != 403)
                fail_msg("case \"%s\": expected 403 %s, got %s", c->name, c->reason, d != NULL ? d->reason : "allowed");
        } else {
            if (d != NULL)
                fail_msg("case \"%s\": expected allowed, got %d %s", c->name, d->status, d->reason);
            if (granted.base == NULL || !h2o_memis(granted.base, granted.len, c->granted, strlen(c->granted)) ||
                granted.base[granted.len] != '\0')
                fail_msg("case \"%s\": expected granted \"%s\", got \"%.*s\"", c->name, c->granted, (int)granted.len, granted.base);
        }
    }
}

#define RUN(cases) run_authorize_cases(cases, sizeof(cases) / sizeof(cases[0]))

/* Existence, state and service, then the credential's tenant. */
static const authorize_case_t tenant_cases[] = {
    {.name = "active tenant, every service, matching JWT", .granted = ""},
    {.name = "service listed", .tenant_fields = {"status", "active", "services", "rag langchain"}, .granted = ""},
    {.name = "suspended", .tenant_fields = {"status", "suspended", "services", "*"}, .reason = "tenant_suspended"},
    {.name = "suspended wins over service not allowed",
     .tenant_fields = {"status", "suspended", "services", "rag"},
     .reason = "tenant_suspended"},
    {.name = "suspended wins over tenant mismatch",
     .tenant_fields = {"status", "suspended", "services", "*"},
     .id_tenant = "globex",
     .reason = "tenant_suspended"},
    {.name = "service not allowed", .tenant_fields = {"status", "active", "services", "rag"}, .reason = "service_not_allowed"},
    {.name = "no services field: no service", .tenant_fields = {"status", "active"}, .reason = "service_not_allowed"},
    {.name = "service names compare exactly",
     .tenant_fields = {"status", "active", "services", "langchain-v2 Langchain lang"},
     .reason = "service_not_allowed"},
    {.name = "service not allowed wins over tenant mismatch",
     .tenant_fields = {"status", "active", "services", "rag"},
     .id_tenant = "globex",
     .reason = "service_not_allowed"},
    {.name = "JWT without tenant claim", .id_tenant = "", .reason = "tenant_mismatch"},
    {.name = "JWT for another tenant", .id_tenant = "globex", .reason = "tenant_mismatch"},
    {.name = "JWT tenant differs in case", .id_tenant = "ACME", .reason = "tenant_mismatch"},
    {.name = "JWT tenant is a prefix of the header", .id_tenant = "acm", .reason = "tenant_mismatch"},
    {.name = "JWT tenant extends the header", .id_tenant = "acme2", .reason = "tenant_mismatch"},
    {.name = "API key of this tenant", .method = SC_AUTH_API_KEY, .granted = ""},
    {.name = "API key record of another tenant", .method = SC_AUTH_API_KEY, .id_tenant = "globex", .reason = "tenant_mismatch"},
    {.name = "tenant record other than the header's", .tenant_id = "globex", .reason = "tenant_mismatch"},
    {.name = "header and credential agree, record differs",
     .tenant_id = "acme",
     .id_tenant = "globex",
     .header = "globex",
     .reason = "tenant_mismatch"},
    {.name = "header and credential agree with the record",
     .tenant_id = "globex",
     .id_tenant = "globex",
     .header = "globex",
     .granted = ""},
};

static void test_authorize_tenant_rules(void **state)
{
    (void)state;
    RUN(tenant_cases);
}

#define ISSUERS "status", "active", "services", "*", "issuers", "https://idp.a.example https://idp.b.example"

static const authorize_case_t issuer_cases[] = {
    {.name = "issuer listed (first)", .tenant_fields = {ISSUERS}, .issuer = "https://idp.a.example", .granted = ""},
    {.name = "issuer listed (second)", .tenant_fields = {ISSUERS}, .issuer = "https://idp.b.example", .granted = ""},
    {.name = "issuer not listed", .tenant_fields = {ISSUERS}, .issuer = "https://idp.c.example", .reason = "issuer_not_allowed"},
    {.name = "issuer is a prefix of a listed one",
     .tenant_fields = {ISSUERS},
     .issuer = "https://idp.a",
     .reason = "issuer_not_allowed"},
    {.name = "issuer with trailing slash",
     .tenant_fields = {ISSUERS},
     .issuer = "https://idp.a.example/",
     .reason = "issuer_not_allowed"},
    {.name = "empty issuer", .tenant_fields = {ISSUERS}, .issuer = "", .reason = "issuer_not_allowed"},
    {.name = "tenant lists no issuers: any configured issuer",
     .tenant_fields = {"status", "active", "services", "*"},
     .issuer = "https://anything.example",
     .granted = ""},
    {.name = "API keys have no issuer to check", .tenant_fields = {ISSUERS}, .method = SC_AUTH_API_KEY, .granted = ""},
    {.name = "tenant mismatch wins over issuer",
     .tenant_fields = {ISSUERS},
     .issuer = "https://idp.c.example",
     .id_tenant = "globex",
     .reason = "tenant_mismatch"},
    {.name = "issuer wins over scopes",
     .tenant_fields = {ISSUERS},
     .issuer = "https://idp.c.example",
     .route_scopes = {"admin"},
     .reason = "issuer_not_allowed"},
};

static void test_authorize_issuer_binding(void **state)
{
    (void)state;
    RUN(issuer_cases);
}

#define CAP_READ "status", "active", "services", "*", "scopes", "read"

static const authorize_case_t scope_cases[] = {
    {.name = "route needs a and b, credential has a", .scopes = "a", .route_scopes = {"a", "b"}, .reason = "insufficient_scope"},
    {.name = "route needs a and b, credential has b a c", .scopes = "b a c", .route_scopes = {"a", "b"}, .granted = "b a c"},
    {.name = "no scopes needed, none held", .granted = ""},
    {.name = "no scopes held, one needed", .route_scopes = {"read"}, .reason = "insufficient_scope"},
    {.name = "tenant caps the credential",
     .tenant_fields = {CAP_READ},
     .scopes = "read admin",
     .route_scopes = {"read"},
     .granted = "read"},
    {.name = "capped scope is not held",
     .tenant_fields = {CAP_READ},
     .scopes = "read admin",
     .route_scopes = {"admin"},
     .reason = "insufficient_scope"},
    {.name = "cap applies to the granted string without route scopes",
     .tenant_fields = {CAP_READ},
     .scopes = "admin",
     .granted = ""},
    {.name = "tenant cap keeps credential order",
     .tenant_fields = {"status", "active", "services", "*", "scopes", "write read"},
     .scopes = "read admin write",
     .route_scopes = {"write"},
     .granted = "read write"},
    {.name = "tenant scopes * (no cap)",
     .tenant_fields = {"status", "active", "services", "*", "scopes", "*"},
     .scopes = "read admin",
     .route_scopes = {"admin"},
     .granted = "read admin"},
    {.name = "tenant scopes absent (no cap)",
     .tenant_fields = {"status", "active", "services", "*"},
     .scopes = "read admin",
     .route_scopes = {"read", "admin"},
     .granted = "read admin"},
    {.name = "tenant scopes empty (cap to nothing)",
     .tenant_fields = {"status", "active", "services", "*", "scopes", ""},
     .scopes = "read",
     .route_scopes = {"read"},
     .reason = "insufficient_scope"},
    {.name = "a scope is not held by its prefix", .scopes = "read:all", .route_scopes = {"read"}, .reason = "insufficient_scope"},
    {.name = "a scope is not held by an extension", .scopes = "read", .route_scopes = {"read:all"}, .reason = "insufficient_scope"},
    {.name = "scopes compare exactly", .scopes = "Read", .route_scopes = {"read"}, .reason = "insufficient_scope"},
    {.name = "API key scopes capped too",
     .method = SC_AUTH_API_KEY,
     .tenant_fields = {CAP_READ},
     .scopes = "admin read",
     .route_scopes = {"read"},
     .granted = "read"},
    {.name = "the last of several route scopes missing",
     .scopes = "a b c",
     .route_scopes = {"a", "b", "c", "d"},
     .reason = "insufficient_scope"},
};

static void test_authorize_scopes(void **state)
{
    (void)state;
    RUN(scope_cases);
}

static void test_pipeline_denials(void **state)
{
    (void)state;
    /* the status codes the pipeline answers with, per identity.h */
    assert_int_equal(sc_deny_no_route.status, 404);
    assert_int_equal(sc_deny_missing_credentials.status, 401);
    assert_int_equal(sc_deny_ambiguous_credentials.status, 401);
    assert_int_equal(sc_deny_invalid_api_key.status, 401);
    assert_int_equal(sc_deny_tenant_unknown.status, 403);
    assert_string_equal(sc_deny_tenant_unknown.reason, "tenant_unknown");
    assert_int_equal(sc_deny_store_unavailable.status, 503);
    assert_int_equal(sc_deny_record_invalid.status, 503);
}

/* tenant_issuers_default: a tenant record without "issuers" accepts any configured issuer, or
 * none; a record that names its issuers is not concerned; API keys never are. */
static void test_issuers_default(void **state)
{
    (void)state;
    const char *strs[] = {"status", "active", "services", "*"},
               *bound[] = {"status", "active", "services", "*", "issuers", "https://idp/"};
    size_t lens[6];
    char err[256];
    for (size_t i = 0; i != 6; ++i)
        lens[i] = strlen(bound[i]);
    sc_tenant_record_t *plain = NULL, *named = NULL;
    assert_int_equal(sc_schema_tenant_parse("acme", strs, lens, 4, &plain, err, sizeof(err)), 0);
    assert_int_equal(sc_schema_tenant_parse("acme", bound, lens, 6, &named, err, sizeof(err)), 0);
    sc_route_t route = {.path = "/**", .prefix = "", .subtree = 1, .auth = SC_AUTH_JWT | SC_AUTH_API_KEY};
    sc_identity_t jwt = {.method = SC_AUTH_JWT, .tenant = str("acme"), .issuer = str("https://idp/")};
    sc_identity_t key = {.method = SC_AUTH_API_KEY, .tenant = str("acme"), .key_id = str("k1")};
    h2o_iovec_t g;
    assert_null(sc_identity_authorize(&jwt, plain, str("acme"), "langchain", &route, SC_ISSUERS_DEFAULT_ANY, &pool, &g));
    assert_ptr_equal(sc_identity_authorize(&jwt, plain, str("acme"), "langchain", &route, SC_ISSUERS_DEFAULT_NONE, &pool, &g),
                     &sc_deny_issuer_not_allowed);
    assert_null(sc_identity_authorize(&jwt, named, str("acme"), "langchain", &route, SC_ISSUERS_DEFAULT_NONE, &pool, &g));
    assert_null(sc_identity_authorize(&key, plain, str("acme"), "langchain", &route, SC_ISSUERS_DEFAULT_NONE, &pool, &g));
    /* and a token for another tenant is tenant_mismatch before any record is read */
    assert_ptr_equal(sc_identity_check_jwt_tenant(&jwt, str("globex")), &sc_deny_tenant_mismatch);
    assert_null(sc_identity_check_jwt_tenant(&jwt, str("acme")));
    sc_schema_tenant_free(plain);
    sc_schema_tenant_free(named);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tenant_header),          cmocka_unit_test(test_check_apikey),
        cmocka_unit_test(test_authorize_tenant_rules), cmocka_unit_test(test_authorize_issuer_binding),
        cmocka_unit_test(test_authorize_scopes),       cmocka_unit_test(test_pipeline_denials),
        cmocka_unit_test(test_issuers_default),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
