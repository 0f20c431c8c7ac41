/* The pipeline's decision that needs no live request: the path the policy judges and the backend
 * receives (sc_pipeline_normalize_path). The pipeline's
 * steps after these (credentials, lookups, rate limit, forwarding) run on an h2o request and a
 * worker and are covered by the integration tests (test_identity.py, test_hostile.py, test_limits.py...). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "pipeline.h"
#include "policy_load.h"

#define POLICY_FILE TEST_DATA_DIR "/pipeline-policy.yaml"

static sc_policy_t *load_policy(const char *yaml)
{
    char err[512] = "";
    sc_policy_t *p = sc_policy_load_string(yaml, strlen(yaml), POLICY_FILE, err, sizeof(err));
    if (p == NULL)
        fail_msg("policy: %s", err);
    return p;
}

#define ROUTES                                                                                                                     \
    "routes:\n"                                                                                                                    \
    "  - path: /svc/health\n"                                                                                                      \
    "    methods: [GET]\n"                                                                                                         \
    "    auth: none\n"                                                                                                             \
    "  - path: /svc/**\n"                                                                                                          \
    "    auth: [jwt, api_key]\n"

static void test_normalize_path(void **state)
{
    (void)state;
    static const struct {
        const char *target;
        int unusual; /* the policy's path_unusual: normalize */
        int ok;
        const char *path; /* what the policy judges; when refused, what report_only forwards */
    } rows[] = {
        {"/svc/upload", 0, 1, "/svc/upload"},
        {"/svc/upload?a=1&b=/x/../y", 0, 1, "/svc/upload"}, /* the query is not touched, nor returned */
        {"/svc//a/./b/../c", 0, 1, "/svc/a/c"},
        {"/svc/%7euser/%41", 0, 1, "/svc/~user/A"},
        {"/svc/%2e%2e/%2e%2e/admin", 0, 1, "/admin"}, /* ".." never climbs above the root */
        {"/svc/a%2Fb?q", 0, 0, "/svc/a%2Fb"},
        {"/svc/a%2Fb?q", 1, 1, "/svc/a/b"},
        {"/svc/a;jsessionid=1/b", 0, 0, "/svc/a;jsessionid=1/b"},
        {"/svc/a;jsessionid=1/b", 1, 1, "/svc/a/b"},
        {"/svc/%zz", 0, 0, "/svc/%zz"},
    };
    sc_policy_t *policies[2] = {load_policy("mode: enforce\n" ROUTES),
                                load_policy("mode: enforce\npath_unusual: normalize\n" ROUTES)};
    for (size_t i = 0; i != sizeof(rows) / sizeof(rows[0]); ++i) {
        h2o_req_t req;
        memset(&req, 0, sizeof(req));
        h2o_mem_init_pool(&req.pool);
        req.path = h2o_iovec_init(rows[i].target, strlen(rows[i].target));
        const char *q = strchr(rows[i].target, '?');
        req.query_at = q != NULL ? (size_t)(q - rows[i].target) : SIZE_MAX;
        h2o_iovec_t out = {NULL, 0};
        int ok = sc_pipeline_normalize_path(&req, policies[rows[i].unusual], &out);
        int same = out.len == strlen(rows[i].path) && memcmp(out.base, rows[i].path, out.len) == 0;
        char got[256];
        snprintf(got, sizeof(got), "%d and \"%.*s\"", ok, (int)out.len, out.base);
        h2o_mem_clear_pool(&req.pool);
        if (ok != rows[i].ok || !same) {
            sc_policy_free(policies[0]);
            sc_policy_free(policies[1]);
            fail_msg("%s: got %s", rows[i].target, got);
        }
    }
    sc_policy_free(policies[0]);
    sc_policy_free(policies[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
