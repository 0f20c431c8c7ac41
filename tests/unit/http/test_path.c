/* One reading of a path (path.c): every form of issue 10 and its mirror image, the route
 * the policy then matches, and the path the backend then receives. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "forward.h"
#include "path.h"
#include "policy_load.h"

#define R SC_PATH_REJECT
#define N SC_PATH_NORMALIZE

static const struct {
    const char *in;
    sc_path_unusual_t unusual;
    const char *out; /* NULL: refused */
} cases[] = {
    /* ordinary paths are unchanged */
    {"/", R, "/"},
    {"/langchain/admin/users", R, "/langchain/admin/users"},
    {"/langchain/admin/", R, "/langchain/admin/"},
    {"/langchain/a%20b", R, "/langchain/a%20b"},
    {"/langchain/a%2a", R, "/langchain/a%2A"}, /* kept encoded, hex in upper case */
    {"/langchain/caf\xc3\xa9", R, "/langchain/caf\xc3\xa9"},
    /* case is kept: matching decides (see test_case_insensitive_backend) */
    {"/langchain/Admin/users", R, "/langchain/Admin/users"},
    {"/langchain/ADMIN/users", R, "/langchain/ADMIN/users"},
    /* empty segments merge, both ways round */
    {"/langchain//admin/users", R, "/langchain/admin/users"},
    {"//langchain/admin/users", R, "/langchain/admin/users"},
    {"/langchain/admin//users", R, "/langchain/admin/users"},
    {"/langchain///admin////users//", R, "/langchain/admin/users/"},
    /* dot segments, plain and encoded */
    {"/langchain/./admin/users", R, "/langchain/admin/users"},
    {"/langchain/x/../admin/users", R, "/langchain/admin/users"},
    {"/langchain/%2e%2e/langchain/admin", R, "/langchain/admin"},
    {"/langchain/%2E/admin", R, "/langchain/admin"},
    {"/langchain/.%2e/langchain/admin", R, "/langchain/admin"},
    {"/langchain/admin/../health", R, "/langchain/health"}, /* mirror: out of admin */
    {"/langchain/health/../admin", R, "/langchain/admin"},  /* and into it */
    {"/../../langchain/admin", R, "/langchain/admin"},      /* never above the root */
    {"/langchain/admin/.", R, "/langchain/admin/"},
    {"/langchain/admin/..", R, "/langchain/"},
    {"/langchain/...", R, "/langchain/..."}, /* not a dot segment */
    /* unreserved escapes decode, to the same path a backend decodes */
    {"/%6Cangchain/%61dmin/users", R, "/langchain/admin/users"},
    {"/langchain/%7Euser/%2D%5F", R, "/langchain/~user/-_"},
    /* ';' parameters: refused, or dropped to the end of their segment */
    {"/langchain/admin;x/users", R, NULL},
    {"/langchain/admin;x/users", N, "/langchain/admin/users"},
    {"/langchain;a=b/admin/users", N, "/langchain/admin/users"},
    {"/langchain/health;/../admin", N, "/langchain/admin"},
    {"/langchain/..;/admin", N, "/admin"},
    {"/langchain/admin/users;jsessionid=1", N, "/langchain/admin/users"},
    {"/langchain/%3B", R, "/langchain/%3B"}, /* an encoded ';' is data, not a parameter */
    /* a backslash, raw or encoded, and an encoded slash: refused, or a '/' */
    {"/langchain\\admin\\users", R, NULL},
    {"/langchain\\admin\\users", N, "/langchain/admin/users"},
    {"/langchain/health\\..\\admin", N, "/langchain/admin"},
    {"/langchain%5cadmin/users", R, NULL},
    {"/langchain%5Cadmin/users", N, "/langchain/admin/users"},
    {"/langchain%2fadmin/users", R, NULL},
    {"/langchain%2Fadmin%2Fusers", N, "/langchain/admin/users"},
    {"/langchain/health/..%2Fadmin", R, NULL},
    {"/langchain/health/..%2Fadmin", N, "/langchain/admin"},
    {"/langchain/admin%2F..%2Fhealth", N, "/langchain/health"},
    /* what no reading can agree on */
    {"", R, NULL},
    {"langchain/admin", R, NULL},
    {"*", R, NULL},
    {"/langchain/%", R, NULL},
    {"/langchain/%4", R, NULL},
    {"/langchain/%zz", R, NULL},
    {"/langchain/%zz", N, NULL},
    {"/langchain/a\tb", R, NULL},
    {"/langchain/a\x7f", N, NULL},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        char out[256];
        size_t out_len = 0;
        size_t len = strlen(cases[i].in);
        int rc = sc_path_normalize(cases[i].in, len, cases[i].unusual, out, &out_len);
        if (cases[i].out == NULL) {
            if (rc == 0)
                fail_msg("\"%s\": accepted as \"%.*s\", expected a refusal", cases[i].in, (int)out_len, out);
            continue;
        }
        if (rc != 0)
            fail_msg("\"%s\": refused, expected \"%s\"", cases[i].in, cases[i].out);
        if (out_len != strlen(cases[i].out) || memcmp(out, cases[i].out, out_len) != 0)
            fail_msg("\"%s\": got \"%.*s\", expected \"%s\"", cases[i].in, (int)out_len, out, cases[i].out);
        assert_true(out_len <= len);
        /* normalising twice changes nothing: the backend reads what the policy read */
        char again[256];
        size_t again_len;
        assert_int_equal(sc_path_normalize(out, out_len, cases[i].unusual, again, &again_len), 0);
        assert_int_equal(again_len, out_len);
        assert_memory_equal(again, out, out_len);
    }
}

static sc_policy_t *load(const char *yaml)
{
    char err[256];
    sc_policy_t *p = sc_policy_load_string(yaml, strlen(yaml), "p.yaml", err, sizeof(err));
    if (p == NULL)
        fail_msg("%s", err);
    return p;
}

#define POLICY_ROUTES                                                                                                              \
    "routes:\n"                                                                                                                    \
    "  - path: /langchain/health\n    auth: none\n"                                                                                \
    "  - path: /langchain/admin/**\n    auth: jwt\n    scopes: [admin]\n"                                                          \
    "  - path: /langchain/**\n    auth: jwt\n"

/* The route the policy judges for a raw path, and the path forwarded (NULL, "" when refused). */
static const char *judge(const sc_policy_t *p, const char *raw, h2o_mem_pool_t *pool, h2o_iovec_t *forwarded)
{
    char *out = h2o_mem_alloc_pool(pool, strlen(raw) + 1);
    size_t len;
    if (sc_path_normalize(raw, strlen(raw), p->path_unusual, out, &len) != 0)
        return "refused";
    const sc_route_t *route = sc_policy_match(p, H2O_STRLIT("GET"), out, len);
    *forwarded = sc_forward_path(pool, p, h2o_iovec_init(out, len), h2o_iovec_init(raw, strlen(raw)), SIZE_MAX);
    return route != NULL ? route->path : "none";
}

static void test_every_form_reaches_the_admin_route(void **state)
{
    (void)state;
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    sc_policy_t *strict = load(POLICY_ROUTES);
    sc_policy_t *lenient = load("path_unusual: normalize\npath_case_insensitive: true\n" POLICY_ROUTES);
    sc_policy_t *nocase = load("path_case_insensitive: true\n" POLICY_ROUTES);
    const char *forms[] = {"/langchain//admin/users",  "/langchain/./admin/users",         "/langchain/x/../admin/users",
                           "/langchain/%61dmin/users", "/langchain/health/../admin/users", "/%6cangchain/admin/users"};
    h2o_iovec_t fwd;
    for (size_t i = 0; i != sizeof(forms) / sizeof(forms[0]); ++i) {
        assert_string_equal(judge(strict, forms[i], &pool, &fwd), "/langchain/admin/**");
        assert_true(h2o_memis(fwd.base, fwd.len, H2O_STRLIT("/langchain/admin/users")));
    }
    /* refused by default, the admin route once normalised: never the catch-all */
    const char *unusual[] = {"/langchain/admin;x/users", "/langchain\\admin\\users",           "/langchain%5cadmin/users",
                             "/langchain%2Fadmin/users", "/langchain/health/..%2Fadmin/users", "/langchain/health;/../admin/users"};
    for (size_t i = 0; i != sizeof(unusual) / sizeof(unusual[0]); ++i) {
        assert_string_equal(judge(strict, unusual[i], &pool, &fwd), "refused");
        assert_string_equal(judge(lenient, unusual[i], &pool, &fwd), "/langchain/admin/**");
        assert_true(h2o_memis(fwd.base, fwd.len, H2O_STRLIT("/langchain/admin/users")));
    }
    /* case: a case-sensitive backend has no /langchain/Admin route, a case-insensitive one does */
    assert_string_equal(judge(strict, "/langchain/Admin/users", &pool, &fwd), "/langchain/**");
    assert_true(h2o_memis(fwd.base, fwd.len, H2O_STRLIT("/langchain/Admin/users")));
    assert_string_equal(judge(nocase, "/langchain/Admin/users", &pool, &fwd), "/langchain/admin/**");
    assert_string_equal(judge(nocase, "/LANGCHAIN/ADMIN", &pool, &fwd), "/langchain/admin/**");
    assert_string_equal(judge(nocase, "/Langchain/Health", &pool, &fwd), "/langchain/health");
    /* mirror images: forms that leave the admin subtree are judged outside it */
    assert_string_equal(judge(strict, "/langchain/admin/../health", &pool, &fwd), "/langchain/health");
    assert_true(h2o_memis(fwd.base, fwd.len, H2O_STRLIT("/langchain/health")));
    assert_string_equal(judge(strict, "/langchain/admin/%2e%2e/v1", &pool, &fwd), "/langchain/**");
    assert_string_equal(judge(strict, "/langchain/adminx", &pool, &fwd), "/langchain/**");
    assert_string_equal(judge(lenient, "/langchain/admin;x/../health", &pool, &fwd), "/langchain/health");
    sc_policy_free(strict);
    sc_policy_free(lenient);
    sc_policy_free(nocase);
    h2o_mem_clear_pool(&pool);
}

static void test_strip_prefix_and_query(void **state)
{
    (void)state;
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    sc_policy_t *p = load("strip_prefix: /langchain\npath_case_insensitive: true\n" POLICY_ROUTES);
    const char *raw = "/LangChain//v1/invoke?a=1&b=%2F";
    char out[64];
    size_t len;
    assert_int_equal(sc_path_normalize(raw, 20, p->path_unusual, out, &len), 0);
    h2o_iovec_t fwd = sc_forward_path(&pool, p, h2o_iovec_init(out, len), h2o_iovec_init(raw, strlen(raw)), 20);
    assert_true(h2o_memis(fwd.base, fwd.len, H2O_STRLIT("/v1/invoke?a=1&b=%2F")));
    sc_policy_free(p);
    h2o_mem_clear_pool(&pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_every_form_reaches_the_admin_route),
        cmocka_unit_test(test_strip_prefix_and_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
