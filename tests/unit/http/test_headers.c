/* Header editing, the forwarded path, JSON error bodies, and the waiter that links a suspended
 * request to an asynchronous result. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "forward.h"
#include "headers.h"
#include "http_error.h"
#include "json_out.h"
#include "path.h"
#include "policy_load.h"
#include "waiter.h"

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

static void add(h2o_headers_t *h, const char *name, const char *value)
{
    h2o_add_header_by_str(&pool, h, name, strlen(name), 1, NULL, value, strlen(value));
}

static void test_delete_every_copy_and_spelling(void **state)
{
    (void)state;
    h2o_headers_t h = {0};
    add(&h, "x-tenant-id", "a");
    add(&h, "accept", "*/*");
    add(&h, "x-tenant-id", "b");
    add(&h, "x_tenant_id", "c"); /* CGI-style backends read this as X-Tenant-ID */
    add(&h, "X-TENANT-ID", "d");
    assert_int_equal(sc_headers_delete_loose(&h, H2O_STRLIT("X-Tenant-ID")), 4);
    assert_int_equal(h.size, 1);
    assert_memory_equal(h.entries[0].name->base, "accept", 6);
}

static void test_replace_and_count(void **state)
{
    (void)state;
    h2o_headers_t h = {0};
    h2o_iovec_t first;
    add(&h, "x-request-id", "spoofed-1");
    add(&h, "X-Request-Id", "spoofed-2");
    sc_headers_replace(&pool, &h, H2O_STRLIT("x-request-id"), H2O_STRLIT("ours"));
    assert_int_equal(sc_headers_count(&h, H2O_STRLIT("x-request-id"), &first), 1);
    assert_memory_equal(first.base, "ours", 4);
    assert_int_equal(sc_headers_count(&h, H2O_STRLIT("x-missing"), NULL), 0);
}

static h2o_iovec_t forward(const sc_policy_t *p, const char *raw)
{
    const char *q = strchr(raw, '?');
    size_t len = q != NULL ? (size_t)(q - raw) : strlen(raw), out_len;
    char *out = h2o_mem_alloc_pool(&pool, len + 1);
    assert_int_equal(sc_path_normalize(raw, len, p->path_unusual, out, &out_len), 0);
    return sc_forward_path(&pool, p, h2o_iovec_init(out, out_len), h2o_iovec_init(raw, strlen(raw)), q != NULL ? len : SIZE_MAX);
}

#define assert_iovec(v, s)                                                                                                         \
    do {                                                                                                                           \
        h2o_iovec_t v_ = (v);                                                                                                      \
        if (!h2o_memis(v_.base, v_.len, (s), strlen(s)))                                                                           \
            fail_msg("got \"%.*s\", expected \"%s\"", (int)v_.len, v_.base, (s));                                                  \
    } while (0)

static void test_forward_path(void **state)
{
    (void)state;
    char err[256];
    const char *yaml = "strip_prefix: /langchain\nroutes:\n  - path: /**\n    auth: none\n";
    sc_policy_t *strip = sc_policy_load_string(yaml, strlen(yaml), "p.yaml", err, sizeof(err));
    const char *yaml2 = "routes:\n  - path: /**\n    auth: none\n";
    sc_policy_t *keep = sc_policy_load_string(yaml2, strlen(yaml2), "p.yaml", err, sizeof(err));
    assert_non_null(strip);
    assert_non_null(keep);

    /* ordinary paths: byte for byte, query untouched */
    assert_iovec(forward(keep, "/langchain/v1/invoke?a=1&b=%2F"), "/langchain/v1/invoke?a=1&b=%2F");
    assert_iovec(forward(strip, "/langchain/v1/invoke?a=1"), "/v1/invoke?a=1");
    assert_iovec(forward(strip, "/langchain"), "/");
    assert_iovec(forward(strip, "/langchain?x"), "/?x");
    assert_iovec(forward(strip, "/other/path"), "/other/path");
    /* the backend receives the path the policy matched, not a raw one that decodes elsewhere */
    assert_iovec(forward(keep, "/langchain/health/%2e%2e/admin"), "/langchain/admin");
    assert_iovec(forward(strip, "/langchain/public/../admin?q=1"), "/admin?q=1");
    assert_iovec(forward(keep, "/a%20b"), "/a%20b");
    assert_iovec(forward(keep, "/%61dmin"), "/admin");
    sc_policy_free(strip);
    sc_policy_free(keep);
}

/* forward.c's stripping, the one production runs (there is no other): X-Auth-* names of any
 * length but not X-Authority, obs-fold lines (h2o keeps them as headers with an empty name), the
 * policy's re-routing headers, Authorization. */
static void test_forward_strip_headers(void **state)
{
    (void)state;
    char err[256];
    const char *yaml = "routes:\n  - path: /**\n    auth: none\n";
    sc_policy_t *p = sc_policy_load_string(yaml, strlen(yaml), "p.yaml", err, sizeof(err));
    assert_non_null(p);
    const char *dropped[] = {"x-auth-a",  "x-auth-",        "x_auth_scopes", "X-AUTH-SUBJECT",         "x-tenant-id",
                             "x-api-key", "x-original-url", "X-Rewrite-URL", "x-http-method-override", "x_forwarded_host",
                             "forwarded", "x-real-ip",      "x-request-id",  "x-forwarded-for",        ""};
    const char *kept[] = {"x-auth", "x-authx", "x-authority", "accept", "x-au", "content-type"};
    for (int drop_authz = 0; drop_authz != 2; ++drop_authz) {
        h2o_headers_t h = {0};
        for (size_t i = 0; i != sizeof(dropped) / sizeof(dropped[0]); ++i)
            add(&h, dropped[i], "v");
        for (size_t i = 0; i != sizeof(kept) / sizeof(kept[0]); ++i)
            add(&h, kept[i], "v");
        add(&h, "authorization", "Bearer forged");
        sc_forward_strip_headers(&h, p, drop_authz);
        assert_int_equal(h.size, sizeof(kept) / sizeof(kept[0]) + !drop_authz);
        for (size_t i = 0; i != sizeof(kept) / sizeof(kept[0]); ++i)
            assert_string_equal(h.entries[i].name->base, kept[i]);
    }
    sc_policy_free(p);
    /* a policy's own list replaces the default */
    yaml = "remove_request_headers: [X-Custom]\nroutes:\n  - path: /**\n    auth: none\n";
    p = sc_policy_load_string(yaml, strlen(yaml), "p.yaml", err, sizeof(err));
    assert_non_null(p);
    h2o_headers_t h = {0};
    add(&h, "x_custom", "v");
    add(&h, "x-real-ip", "v");
    add(&h, "x_forwarded_proto", "https"); /* the sidecar's own, whatever the list: trusted_proxies.h */
    add(&h, "X-Forwarded-For", "6.6.6.6");
    sc_forward_strip_headers(&h, p, 0);
    assert_int_equal(h.size, 1);
    assert_string_equal(h.entries[0].name->base, "x-real-ip");
    sc_policy_free(p);
    /* and a bad name stops the load, naming the file, line and key */
    yaml = "routes:\n  - path: /**\n    auth: none\nremove_request_headers:\n  - ok\n  - \"bad name\"\n";
    assert_null(sc_policy_load_string(yaml, strlen(yaml), "p.yaml", err, sizeof(err)));
    assert_non_null(strstr(err, "p.yaml:"));
    assert_non_null(strstr(err, "remove_request_headers[1]"));
}

static void test_error_body_escapes(void **state)
{
    (void)state;
    h2o_iovec_t body =
        sc_http_error_body(&pool, "forbidden", "tenant_mismatch", "quote \" backslash \\ newline \n bad \xff", "id1");
    const char *expected =
        "{\"error\":\"forbidden\",\"reason\":\"tenant_mismatch\",\"message\":\"quote \\\" backslash \\\\ newline "
        "\\u000a bad \\ufffd\",\"request_id\":\"id1\"}\n";
    assert_int_equal(body.len, strlen(expected));
    assert_memory_equal(body.base, expected, body.len);
    body = sc_http_error_body(&pool, "not_found", NULL, "m", "id2");
    assert_memory_equal(body.base, "{\"error\":\"not_found\",\"message\":\"m\",\"request_id\":\"id2\"}\n", body.len);
    assert_string_equal(sc_http_error_code_for_status(504), "gateway_timeout");
    assert_string_equal(sc_http_error_code_for_status(599), "error");
}

static void test_json_utf8(void **state)
{
    (void)state;
    char storage[64];
    sc_json_buf_t b;
    sc_json_out_init(&b, storage, sizeof(storage));
    sc_json_out_string(&b, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xc0\xaf\xed\xa0\x80", 14); /* é € 😀, overlong /, surrogate */
    assert_int_equal(b.truncated, 0);
    const char *expected = "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\"";
    assert_int_equal(b.len, strlen(expected));
    assert_memory_equal(b.base, expected, b.len);
    sc_json_out_init(&b, storage, 4);
    sc_json_out_lit(&b, "12345");
    assert_int_equal(b.truncated, 1);
}

static void test_waiter_completes_first(void **state)
{
    (void)state;
    h2o_mem_pool_t req_pool;
    int data = 42;
    h2o_mem_init_pool(&req_pool);
    sc_waiter_t *w = sc_waiter_new(&req_pool, &data);
    assert_ptr_equal(sc_waiter_take(w), &data);
    h2o_mem_clear_pool(&req_pool); /* the guard must not touch the freed waiter */
}

static void test_waiter_request_gone_first(void **state)
{
    (void)state;
    h2o_mem_pool_t req_pool;
    int data = 42;
    h2o_mem_init_pool(&req_pool);
    sc_waiter_t *w = sc_waiter_new(&req_pool, &data);
    h2o_mem_clear_pool(&req_pool); /* the client went away while the lookup was pending */
    assert_null(sc_waiter_take(w));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delete_every_copy_and_spelling),
        cmocka_unit_test(test_replace_and_count),
        cmocka_unit_test(test_forward_path),
        cmocka_unit_test(test_forward_strip_headers),
        cmocka_unit_test(test_error_body_escapes),
        cmocka_unit_test(test_json_utf8),
        cmocka_unit_test(test_waiter_completes_first),
        cmocka_unit_test(test_waiter_request_gone_first),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
