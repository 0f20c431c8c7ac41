#include "policy.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"

static const struct {
    const char *name;
    unsigned bit;
} methods[] = {
    {"GET", SC_METHOD_GET},     {"HEAD", SC_METHOD_HEAD},     {"POST", SC_METHOD_POST},       {"PUT", SC_METHOD_PUT},
    {"PATCH", SC_METHOD_PATCH}, {"DELETE", SC_METHOD_DELETE}, {"OPTIONS", SC_METHOD_OPTIONS},
};

unsigned sc_policy_method_bit(const char *method, size_t len)
{
    for (size_t i = 0; i != sizeof(methods) / sizeof(methods[0]); ++i)
        if (strlen(methods[i].name) == len && memcmp(methods[i].name, method, len) == 0)
            return methods[i].bit;
    return 0;
}

static int same_bytes(const char *a, const char *b, size_t len, int nocase)
{
    return nocase ? strncasecmp(a, b, len) == 0 : memcmp(a, b, len) == 0;
}

int sc_policy_path_within(const char *path, size_t path_len, const char *prefix, size_t prefix_len, int nocase)
{
    if (path_len < prefix_len || !same_bytes(path, prefix, prefix_len, nocase))
        return 0;
    return path_len == prefix_len || path[prefix_len] == '/';
}

static int route_matches_path(const sc_route_t *route, const char *path, size_t path_len, int nocase)
{
    if (route->subtree)
        return sc_policy_path_within(path, path_len, route->prefix, route->prefix_len, nocase);
    return path_len == route->prefix_len && same_bytes(path, route->prefix, path_len, nocase);
}

/* HEAD is GET without the body (RFC 9110, 9.3.2): whoever may GET a resource may HEAD it, and
 * health checkers send HEAD. A route listing GET therefore allows HEAD too. */
static unsigned route_methods(const sc_route_t *route)
{
    return (route->methods & SC_METHOD_GET) != 0 ? route->methods | SC_METHOD_HEAD : route->methods;
}

const sc_route_t *sc_policy_match(const sc_policy_t *policy, const char *method, size_t method_len, const char *path,
                                  size_t path_len)
{
    unsigned method_bit = sc_policy_method_bit(method, method_len);
    for (size_t i = 0; i != policy->num_routes; ++i) {
        const sc_route_t *route = &policy->routes[i];
        if (route->methods != 0 && (route_methods(route) & method_bit) == 0)
            continue;
        if (route_matches_path(route, path, path_len, policy->path_case_insensitive))
            return route;
    }
    return NULL;
}

int sc_policy_audience_allowed(const sc_policy_t *policy, char *const *issuer_audiences, size_t n, uint64_t matched)
{
    if (policy->audiences == NULL)
        return 1;
    for (size_t j = 0; j != n && j != 64; ++j)
        if ((matched >> j & 1) != 0)
            for (size_t k = 0; k != policy->num_audiences; ++k)
                if (strcmp(policy->audiences[k], issuer_audiences[j]) == 0)
                    return 1;
    return 0;
}

const char *sc_policy_strip(const sc_policy_t *policy, const char *path, size_t path_len, size_t *out_len)
{
    size_t n = policy->strip_prefix_len;
    if (policy->strip_prefix == NULL ||
        !sc_policy_path_within(path, path_len, policy->strip_prefix, n, policy->path_case_insensitive)) {
        *out_len = path_len;
        return path;
    }
    if (path_len == n) {
        *out_len = 1;
        return "/";
    }
    *out_len = path_len - n;
    return path + n;
}

void sc_policy_free(sc_policy_t *policy)
{
    if (policy == NULL)
        return;
    for (size_t i = 0; i != policy->num_routes; ++i) {
        free(policy->routes[i].path);
        free(policy->routes[i].prefix);
        sc_conf_free_strings(policy->routes[i].scopes, policy->routes[i].num_scopes);
    }
    sc_conf_free_strings(policy->cors.origins, policy->cors.num_origins);
    sc_conf_free_strings(policy->cors.headers, policy->cors.num_headers);
    free(policy->cors.methods_text);
    free(policy->cors.headers_text);
    free(policy->cors.max_age_text);
    free(policy->routes);
    sc_conf_free_strings(policy->remove_headers, policy->num_remove_headers);
    sc_conf_free_strings(policy->audiences, policy->num_audiences);
    free(policy->strip_prefix);
    free(policy->file);
    free(policy);
}
