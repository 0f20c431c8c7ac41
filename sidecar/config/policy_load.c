#include "policy_load.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <stdio.h>

#include "conf_placeholder.h"
#include "conf.h"
#include "gcra.h"
#include "file_util.h"
#include "text.h"
#include "yaml_tree.h"

static const char *const policy_keys[] = {"mode",
                                          "strip_prefix",
                                          "forward_authorization",
                                          "path_case_insensitive",
                                          "path_unusual",
                                          "remove_request_headers",
                                          "audiences",
                                          "cors",
                                          "rate_limit",
                                          "routes",
                                          NULL};
static const char *const rate_limit_keys[] = {"rate", "burst", "mode", "per_service", NULL};
static const char *const route_keys[] = {"path", "methods", "auth", "scopes", NULL};
static const char *const cors_keys[] = {"allowed_origins", "allowed_methods", "allowed_headers", "max_age_s", NULL};

/* What a browser may send through the gateway unless the policy says otherwise. */
static const char *const default_cors_headers[] = {"content-type", "authorization",        "x-api-key", "x-tenant-id",
                                                   "x-amz-date",   "x-amz-security-token", NULL};
/* Headers some frameworks use to re-route, re-method or re-address a request: never forwarded
 * unless the policy lists its own set. */
static const char *const default_remove_headers[] = {"x-original-url",
                                                     "x-rewrite-url",
                                                     "x-http-method-override",
                                                     "x-http-method",
                                                     "x-method-override",
                                                     "x-forwarded-host",
                                                     "x-forwarded-proto",
                                                     "x-forwarded-prefix",
                                                     "forwarded",
                                                     "x-real-ip",
                                                     NULL};
#define DEFAULT_CORS_METHODS (SC_METHOD_GET | SC_METHOD_HEAD | SC_METHOD_POST | SC_METHOD_PUT | SC_METHOD_PATCH | SC_METHOD_DELETE)
#define DEFAULT_CORS_MAX_AGE_S 600

// A route path is "/exact/path" or "/subtree/**" ("/**" for everything). Paths are compared
// after the request path is normalised (path.h), so a configured path must itself be normal: no
// dot segments, no empty segments, no percent-encoding, no query.
static int check_path_chars(sc_conf_reader_t *r, const sc_yaml_node_t *at, const char *key, const char *path)
{
    if (path[0] != '/')
        return sc_conf_error(r, at, key, "\"%s\" must start with /", path);
    if (strstr(path, "//") != NULL || strstr(path, "/./") != NULL || strstr(path, "/../") != NULL)
        return sc_conf_error(r, at, key, "\"%s\" must not contain empty, . or .. segments", path);
    for (const char *p = path; *p != '\0'; ++p) {
        if (*p <= ' ' || *p == 0x7f || *p == '?' || *p == '#' || *p == '%' || *p == '"' || *p == '\\')
            return sc_conf_error(r, at, key, "\"%s\" contains a character that is not allowed (space, ?, #, %%, \", \\)", path);
    }
    size_t len = strlen(path);
    if (len >= 2 && (strcmp(path + len - 2, "/.") == 0 || (len >= 3 && strcmp(path + len - 3, "/..") == 0)))
        return sc_conf_error(r, at, key, "\"%s\" must not end in a . or .. segment", path);
    return 0;
}

static int parse_route_path(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, sc_route_t *route)
{
    char key[SC_CONF_KEY_MAX];
    const sc_yaml_node_t *at = sc_yaml_tree_get(map, "path");
    sc_conf_key(key, where, "path");
    if (sc_conf_require(r, map, where, "path") != 0 || sc_conf_string(r, map, where, "path", &route->path) != 0)
        return -1;
    if (check_path_chars(r, at, key, route->path) != 0)
        return -1;
    size_t len = strlen(route->path);
    const char *star = strchr(route->path, '*');
    if (star != NULL) {
        if (len < 3 || strcmp(route->path + len - 3, "/**") != 0 || star != route->path + len - 2)
            return sc_conf_error(r, at, key, "\"%s\": a wildcard is only allowed as a final /** segment", route->path);
        route->subtree = 1;
        len -= 3;
    }
    if (!route->subtree && len > 1 && route->path[len - 1] == '/')
        return sc_conf_error(r, at, key, "\"%s\" must not end with / (use /** for a subtree)", route->path);
    if ((route->prefix = strndup(route->path, len)) == NULL)
        return sc_conf_error(r, at, key, "out of memory");
    route->prefix_len = len;
    return 0;
}

static int parse_methods(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, sc_route_t *route)
{
    char key[SC_CONF_KEY_MAX], item_key[SC_CONF_KEY_MAX];
    char **names = NULL;
    size_t n = 0;
    const sc_yaml_node_t *at = sc_yaml_tree_get(map, "methods");
    sc_conf_key(key, where, "methods");
    if (sc_conf_strings(r, map, where, "methods", &names, &n) != 0)
        return -1;
    if (at != NULL && !sc_yaml_tree_is_null(at) && n == 0) {
        sc_conf_free_strings(names, n);
        return sc_conf_error(r, at, key, "must list at least one method (omit the key to allow any)");
    }
    for (size_t i = 0; i != n; ++i) {
        unsigned bit = sc_policy_method_bit(names[i], strlen(names[i]));
        if (bit == 0) {
            const sc_yaml_node_t *item = at->type == SC_YAML_SEQUENCE ? at->items[i] : at;
            sc_conf_error(r, item, sc_conf_index(item_key, key, i),
                          "unknown method \"%s\" (use GET, HEAD, POST, PUT, PATCH, "
                          "DELETE or OPTIONS, in upper case)",
                          names[i]);
            sc_conf_free_strings(names, n);
            return -1;
        }
        route->methods |= bit;
    }
    sc_conf_free_strings(names, n);
    return 0;
}

/* auth: none | jwt | api_key | [jwt, api_key] */
static int parse_auth(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, sc_route_t *route)
{
    char key[SC_CONF_KEY_MAX];
    char **names = NULL;
    size_t n = 0;
    const sc_yaml_node_t *at = sc_yaml_tree_get(map, "auth");
    sc_conf_key(key, where, "auth");
    if (sc_conf_require(r, map, where, "auth") != 0 || sc_conf_strings(r, map, where, "auth", &names, &n) != 0)
        return -1;
    int rc = 0;
    if (n == 0) {
        rc = sc_conf_error(r, at, key, "must be none, or a list of jwt and api_key");
    } else if (n == 1 && strcmp(names[0], "none") == 0) {
        route->auth = 0;
    } else {
        for (size_t i = 0; i != n && rc == 0; ++i) {
            if (strcmp(names[i], "jwt") == 0)
                route->auth |= SC_AUTH_JWT;
            else if (strcmp(names[i], "api_key") == 0)
                route->auth |= SC_AUTH_API_KEY;
            else if (strcmp(names[i], "none") == 0)
                rc = sc_conf_error(r, at, key, "none cannot be combined with other methods");
            else
                rc = sc_conf_error(r, at, key, "unknown authentication \"%s\" (use none, jwt or api_key)", names[i]);
        }
    }
    sc_conf_free_strings(names, n);
    return rc;
}

/* A scope is an OAuth scope token: printable ASCII without spaces, quotes or backslashes. */
static int check_scope_tokens(sc_conf_reader_t *r, const sc_yaml_node_t *at, const char *key, char **scopes, size_t n)
{
    for (size_t i = 0; i != n; ++i)
        if (!sc_text_scope_token_valid(scopes[i], strlen(scopes[i])))
            return sc_conf_error(r, at, key, "\"%s\" is not a valid scope", scopes[i]);
    return 0;
}

static int parse_scopes(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, sc_route_t *route)
{
    char key[SC_CONF_KEY_MAX];
    if (sc_conf_strings(r, map, where, "scopes", &route->scopes, &route->num_scopes) != 0)
        return -1;
    if (route->num_scopes != 0 && route->auth == 0)
        return sc_conf_error(r, sc_yaml_tree_get(map, "scopes"), sc_conf_key(key, where, "scopes"),
                             "a public route (auth: none) cannot require scopes");
    return check_scope_tokens(r, sc_yaml_tree_get(map, "scopes"), sc_conf_key(key, where, "scopes"), route->scopes,
                              route->num_scopes);
}

static int parse_route(sc_conf_reader_t *r, const sc_yaml_node_t *node, const char *where, sc_route_t *route)
{
    route->line = node->line;
    if (sc_conf_mapping(r, node, where, route_keys) != 0 || parse_route_path(r, node, where, route) != 0 ||
        parse_methods(r, node, where, route) != 0 || parse_auth(r, node, where, route) != 0 ||
        parse_scopes(r, node, where, route) != 0)
        return -1;
    return 0;
}

/* ------------------------------------------------------------------ cors */

static char *join(char **words, size_t n, const char *sep)
{
    size_t len = 1;
    for (size_t i = 0; i != n; ++i)
        len += strlen(words[i]) + strlen(sep);
    char *out = malloc(len), *p = out;
    if (out == NULL)
        return NULL;
    *p = '\0';
    for (size_t i = 0; i != n; ++i)
        p += sprintf(p, "%s%s", i == 0 ? "" : sep, words[i]);
    return out;
}

/* An origin is scheme://host[:port], exactly what browsers send: nothing after the authority. */
static int origin_valid(const char *o)
{
    size_t scheme = strncmp(o, "https://", 8) == 0 ? 8 : strncmp(o, "http://", 7) == 0 ? 7 : 0;
    if (scheme == 0 || o[scheme] == '\0' || strpbrk(o + scheme, "/?#@ ,*") != NULL)
        return 0;
    for (const char *p = o + scheme; *p != '\0'; ++p)
        if (*p >= 'A' && *p <= 'Z') /* browsers send the host in lower case: this could never match */
            return 0;
    return 1;
}

static int parse_cors_origins(sc_conf_reader_t *r, const sc_yaml_node_t *node, sc_cors_t *cors)
{
    char key[SC_CONF_KEY_MAX];
    const sc_yaml_node_t *at = sc_yaml_tree_get(node, "allowed_origins");
    if (sc_conf_require(r, node, "cors", "allowed_origins") != 0 ||
        sc_conf_strings(r, node, "cors", "allowed_origins", &cors->origins, &cors->num_origins) != 0)
        return -1;
    sc_conf_key(key, "cors", "allowed_origins");
    if (cors->num_origins == 0)
        return sc_conf_error(r, at, key, "must list at least one origin (or remove cors)");
    for (size_t i = 0; i != cors->num_origins; ++i) {
        const char *o = cors->origins[i];
        if (strcmp(o, "*") == 0) {
            cors->any_origin = 1;
        } else if (!origin_valid(o)) {
            return sc_conf_error(r, at, key, "\"%s\" must be an origin like https://app.example.com (lower case, no path), or *",
                                 o);
        }
    }
    return 0;
}

static int parse_cors_methods(sc_conf_reader_t *r, const sc_yaml_node_t *node, sc_cors_t *cors)
{
    char key[SC_CONF_KEY_MAX];
    char **names = NULL, *all[8];
    size_t n = 0, count = 0;
    cors->methods = DEFAULT_CORS_METHODS;
    if (sc_conf_strings(r, node, "cors", "allowed_methods", &names, &n) != 0)
        return -1;
    if (names != NULL) {
        cors->methods = 0;
        for (size_t i = 0; i != n; ++i) {
            unsigned bit = sc_policy_method_bit(names[i], strlen(names[i]));
            if (bit == 0) {
                sc_conf_error(r, sc_yaml_tree_get(node, "allowed_methods"), sc_conf_key(key, "cors", "allowed_methods"),
                              "unknown method \"%s\"", names[i]);
                sc_conf_free_strings(names, n);
                return -1;
            }
            cors->methods |= bit;
        }
        sc_conf_free_strings(names, n);
    }
    static const char *const order[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    for (size_t i = 0; i != sizeof(order) / sizeof(order[0]); ++i)
        if ((cors->methods & sc_policy_method_bit(order[i], strlen(order[i]))) != 0)
            all[count++] = (char *)order[i];
    if ((cors->methods_text = join(all, count, ", ")) == NULL)
        return sc_conf_error(r, node, "cors", "out of memory");
    return 0;
}

static int parse_cors_headers(sc_conf_reader_t *r, const sc_yaml_node_t *node, sc_cors_t *cors)
{
    if (sc_conf_strings(r, node, "cors", "allowed_headers", &cors->headers, &cors->num_headers) != 0)
        return -1;
    if (cors->headers == NULL) {
        for (const char *const *h = default_cors_headers; *h != NULL; ++h)
            ++cors->num_headers;
        if ((cors->headers = calloc(cors->num_headers + 1, sizeof(char *))) == NULL)
            return sc_conf_error(r, node, "cors", "out of memory");
        for (size_t i = 0; i != cors->num_headers; ++i)
            if ((cors->headers[i] = strdup(default_cors_headers[i])) == NULL)
                return sc_conf_error(r, node, "cors", "out of memory");
    }
    for (size_t i = 0; i != cors->num_headers; ++i)
        for (char *p = cors->headers[i]; *p != '\0'; ++p)
            *p = (char)tolower((unsigned char)*p);
    if ((cors->headers_text = join(cors->headers, cors->num_headers, ", ")) == NULL)
        return sc_conf_error(r, node, "cors", "out of memory");
    return 0;
}

static int parse_cors(sc_conf_reader_t *r, const sc_yaml_node_t *root, sc_cors_t *cors)
{
    const sc_yaml_node_t *node = sc_yaml_tree_get(root, "cors");
    uint64_t max_age = DEFAULT_CORS_MAX_AGE_S;
    char text[24];
    if (sc_yaml_tree_is_null(node))
        return 0;
    cors->enabled = 1;
    if (sc_conf_mapping(r, node, "cors", cors_keys) != 0 || parse_cors_origins(r, node, cors) != 0 ||
        parse_cors_methods(r, node, cors) != 0 || parse_cors_headers(r, node, cors) != 0 ||
        sc_conf_uint(r, node, "cors", "max_age_s", 0, 86400, &max_age) != 0)
        return -1;
    snprintf(text, sizeof(text), "%llu", (unsigned long long)max_age);
    if ((cors->max_age_text = strdup(text)) == NULL)
        return sc_conf_error(r, node, "cors", "out of memory");
    return 0;
}

static int parse_routes(sc_conf_reader_t *r, const sc_yaml_node_t *root, sc_policy_t *policy)
{
    char where[SC_CONF_KEY_MAX];
    const sc_yaml_node_t *routes = sc_yaml_tree_get(root, "routes");
    if (sc_conf_require(r, root, "", "routes") != 0 || sc_conf_list(r, routes, "routes") != 0)
        return -1;
    if (routes->num_items == 0)
        return sc_conf_error(r, routes, "routes", "must list at least one route");
    if ((policy->routes = calloc(routes->num_items, sizeof(*policy->routes))) == NULL)
        return sc_conf_error(r, routes, "routes", "out of memory");
    for (size_t i = 0; i != routes->num_items; ++i) {
        ++policy->num_routes; /* counted first so that a partly parsed route is freed too */
        if (parse_route(r, routes->items[i], sc_conf_index(where, "routes", i), &policy->routes[i]) != 0)
            return -1;
    }
    return 0;
}

static int parse_mode(sc_conf_reader_t *r, const sc_yaml_node_t *root, sc_policy_t *policy)
{
    char *mode = NULL;
    int rc = 0;
    if (sc_conf_string(r, root, "", "mode", &mode) != 0)
        return -1;
    if (mode == NULL || strcmp(mode, "enforce") == 0)
        policy->mode = SC_POLICY_ENFORCE;
    else if (strcmp(mode, "report_only") == 0)
        policy->mode = SC_POLICY_REPORT_ONLY;
    else
        rc = sc_conf_error(r, sc_yaml_tree_get(root, "mode"), "mode", "unknown mode \"%s\" (use enforce or report_only)", mode);
    free(mode);
    return rc;
}

static int parse_strip_prefix(sc_conf_reader_t *r, const sc_yaml_node_t *root, sc_policy_t *policy)
{
    const sc_yaml_node_t *at = sc_yaml_tree_get(root, "strip_prefix");
    if (sc_conf_string(r, root, "", "strip_prefix", &policy->strip_prefix) != 0)
        return -1;
    if (policy->strip_prefix == NULL)
        return 0;
    if (check_path_chars(r, at, "strip_prefix", policy->strip_prefix) != 0)
        return -1;
    policy->strip_prefix_len = strlen(policy->strip_prefix);
    if (policy->strip_prefix_len < 2 || policy->strip_prefix[policy->strip_prefix_len - 1] == '/' ||
        strchr(policy->strip_prefix, '*') != NULL)
        return sc_conf_error(r, at, "strip_prefix", "\"%s\" must be a path like /name, without a trailing / or wildcard",
                             policy->strip_prefix);
    return 0;
}

/* rate_limit: {rate: 50, burst: 100, mode: local|redis, per_service: false} */
static int parse_rate_limit(sc_conf_reader_t *r, const sc_yaml_node_t *root, sc_ratelimit_policy_t *rl)
{
    const sc_yaml_node_t *node = sc_yaml_tree_get(root, "rate_limit");
    char *mode = NULL;
    int rc = -1;
    if (sc_yaml_tree_is_null(node))
        return 0;
    if (sc_conf_mapping(r, node, "rate_limit", rate_limit_keys) != 0 || sc_conf_require(r, node, "rate_limit", "rate") != 0 ||
        sc_conf_uint(r, node, "rate_limit", "rate", 1, SC_GCRA_MAX_RATE, &rl->rate) != 0)
        goto Exit;
    rl->burst = rl->rate; /* one second's worth unless said otherwise */
    if (sc_conf_uint(r, node, "rate_limit", "burst", 1, SC_GCRA_MAX_BURST, &rl->burst) != 0 ||
        sc_conf_bool(r, node, "rate_limit", "per_service", &rl->per_service) != 0 ||
        sc_conf_string(r, node, "rate_limit", "mode", &mode) != 0)
        goto Exit;
    if (mode == NULL || strcmp(mode, "local") == 0) {
        rl->mode = SC_RATELIMIT_LOCAL;
    } else if (strcmp(mode, "redis") == 0) {
        rl->mode = SC_RATELIMIT_REDIS;
    } else {
        sc_conf_error(r, sc_yaml_tree_get(node, "mode"), "rate_limit.mode", "unknown mode \"%s\" (use local or redis)", mode);
        goto Exit;
    }
    rc = 0;
Exit:
    free(mode);
    return rc;
}

static int parse_path_unusual(sc_conf_reader_t *r, const sc_yaml_node_t *root, sc_policy_t *policy)
{
    char *v = NULL;
    int rc = 0;
    if (sc_conf_string(r, root, "", "path_unusual", &v) != 0)
        return -1;
    if (v == NULL || strcmp(v, "reject") == 0)
        policy->path_unusual = SC_PATH_REJECT;
    else if (strcmp(v, "normalize") == 0)
        policy->path_unusual = SC_PATH_NORMALIZE;
    else
        rc = sc_conf_error(r, sc_yaml_tree_get(root, "path_unusual"), "path_unusual",
                           "unknown value \"%s\" (use reject or normalize)", v);
    free(v);
    return rc;
}

/* A header name: an RFC 9110 token. */
static int header_name_valid(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; ++s)
        if (!isalnum((unsigned char)*s) && strchr("!#$%&'*+-.^_`|~", *s) == NULL)
            return 0;
    return 1;
}

static int parse_remove_headers(sc_conf_reader_t *r, const sc_yaml_node_t *root, sc_policy_t *policy)
{
    if (sc_conf_strings(r, root, "", "remove_request_headers", &policy->remove_headers, &policy->num_remove_headers) != 0)
        return -1;
    if (policy->remove_headers == NULL) {
        for (const char *const *h = default_remove_headers; *h != NULL; ++h)
            ++policy->num_remove_headers;
        if ((policy->remove_headers = calloc(policy->num_remove_headers + 1, sizeof(char *))) == NULL)
            return sc_conf_error(r, root, "remove_request_headers", "out of memory");
        for (size_t i = 0; i != policy->num_remove_headers; ++i)
            if ((policy->remove_headers[i] = strdup(default_remove_headers[i])) == NULL)
                return sc_conf_error(r, root, "remove_request_headers", "out of memory");
    }
    for (size_t i = 0; i != policy->num_remove_headers; ++i) {
        char key[SC_CONF_KEY_MAX];
        if (!header_name_valid(policy->remove_headers[i]))
            return sc_conf_error(r, sc_yaml_tree_get(root, "remove_request_headers"),
                                 sc_conf_index(key, "remove_request_headers", i), "\"%s\" is not a header name",
                                 policy->remove_headers[i]);
        for (char *p = policy->remove_headers[i]; *p != '\0'; ++p)
            *p = (char)tolower((unsigned char)*p);
    }
    return 0;
}

sc_policy_t *sc_policy_load_string(const char *text, size_t len, const char *filename, char *err, size_t errsize)
{
    sc_conf_reader_t r = {.file = filename, .err = err, .errsize = errsize};
    sc_yaml_node_t *root = sc_yaml_tree_parse_string(text, len, filename, err, errsize);
    sc_policy_t *policy = calloc(1, sizeof(*policy));

    if (root == NULL || policy == NULL)
        goto Error;
    if ((policy->file = strdup(filename)) == NULL) {
        sc_conf_error(&r, root, NULL, "out of memory");
        goto Error;
    }
    policy->forward_authorization = 1;
    if (sc_conf_placeholder_refuse(&r, root) != 0 || sc_conf_mapping(&r, root, "", policy_keys) != 0 ||
        parse_mode(&r, root, policy) != 0 || parse_strip_prefix(&r, root, policy) != 0 ||
        sc_conf_bool(&r, root, "", "forward_authorization", &policy->forward_authorization) != 0 ||
        sc_conf_bool(&r, root, "", "path_case_insensitive", &policy->path_case_insensitive) != 0 ||
        parse_path_unusual(&r, root, policy) != 0 || parse_remove_headers(&r, root, policy) != 0 ||
        sc_conf_strings(&r, root, "", "audiences", &policy->audiences, &policy->num_audiences) != 0 ||
        parse_cors(&r, root, &policy->cors) != 0 || parse_rate_limit(&r, root, &policy->rate_limit) != 0 ||
        parse_routes(&r, root, policy) != 0)
        goto Error;
    sc_yaml_tree_free(root);
    return policy;
Error:
    sc_yaml_tree_free(root);
    sc_policy_free(policy);
    return NULL;
}

sc_policy_t *sc_policy_load_file(const char *path, char *err, size_t errsize)
{
    char *text;
    size_t len;
    if (sc_file_util_read(path, SC_MAX_CONFIG_FILE_SIZE, &text, &len, err, errsize) != 0)
        return NULL;
    sc_policy_t *policy = sc_policy_load_string(text, len, path, err, errsize);
    free(text);
    return policy;
}
