/*
 * policy: what one backend service allows. Loaded from a YAML file at start-up (policy_load.c),
 * immutable afterwards and shared by every worker thread; the request path only reads it.
 */
#ifndef SC_POLICY_H
#define SC_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "path.h"

typedef enum { SC_POLICY_ENFORCE, SC_POLICY_REPORT_ONLY } sc_policy_mode_t;

/* Request methods a route can be limited to; a route with methods == 0 accepts any method. */
enum {
    SC_METHOD_GET = 1 << 0,
    SC_METHOD_HEAD = 1 << 1,
    SC_METHOD_POST = 1 << 2,
    SC_METHOD_PUT = 1 << 3,
    SC_METHOD_PATCH = 1 << 4,
    SC_METHOD_DELETE = 1 << 5,
    SC_METHOD_OPTIONS = 1 << 6,
};

/* Credentials a route accepts; a route with auth == 0 is public. */
enum {
    SC_AUTH_JWT = 1 << 0,
    SC_AUTH_API_KEY = 1 << 1,
};

typedef struct sc_route {
    char *path;   // as configured: "/langchain/health" or "/langchain/**"
    char *prefix; // the exact path, or the subtree root without "/**" ("" for "/**")
    size_t prefix_len;
    int subtree; // 1 for ".../**"
    unsigned methods;
    unsigned auth;
    char **scopes; /* all of them must be held (JWT scope/scp, or the API key's scopes) */
    size_t num_scopes;
    unsigned line; /* in the policy file, for logs */
} sc_route_t;

/* CORS for browsers calling through the gateway; absent (enabled == 0) means preflights are
 * ordinary requests. */
typedef struct sc_cors {
    int enabled;
    int any_origin; /* allowed_origins: ["*"] */
    char **origins;
    size_t num_origins;
    unsigned methods;   /* SC_METHOD_* bits */
    char *methods_text; /* "GET, POST", for Access-Control-Allow-Methods */
    char **headers;     /* lower case */
    size_t num_headers;
    char *headers_text; /* for Access-Control-Allow-Headers */
    char *max_age_text; /* seconds, for Access-Control-Max-Age */
} sc_cors_t;

typedef enum { SC_RATELIMIT_OFF, SC_RATELIMIT_LOCAL, SC_RATELIMIT_REDIS } sc_ratelimit_mode_t;

/* The policy's default limit; a tenant record's rate and burst override it. */
typedef struct sc_ratelimit_policy {
    sc_ratelimit_mode_t mode; /* OFF: no rate_limit section */
    uint64_t rate;            /* requests per second */
    uint64_t burst;
    int per_service; /* one budget per tenant and service, instead of per tenant */
} sc_ratelimit_policy_t;

typedef struct sc_policy {
    char *file;
    sc_policy_mode_t mode;
    char *strip_prefix; /* NULL when absent */
    size_t strip_prefix_len;
    int forward_authorization;      /* forward the Authorization header to the backend (default yes) */
    int path_case_insensitive;      /* the backend matches paths without case: so do the routes */
    sc_path_unusual_t path_unusual; /* ';' parameters, '\\', %2F, %5C: refused (default) or normalised */
    char **remove_headers;          /* request headers never forwarded (lower case; the default list unless set) */
    char **audiences;               /* a JWT must be meant for one of them ("aud"); NULL: any of its issuer's */
    size_t num_audiences;
    size_t num_remove_headers;
    sc_cors_t cors;
    sc_ratelimit_policy_t rate_limit;
    sc_route_t *routes;
    size_t num_routes;
} sc_policy_t;

/**
 * 1 when a JWT whose "aud" matched these audiences of its issuer (bit j: issuer_audiences[j],
 * sc_jwt_claims_t.audiences) is meant for this service: always without a policy audiences list.
 */
int sc_policy_audience_allowed(const sc_policy_t *policy, char *const *issuer_audiences, size_t n, uint64_t matched);

/**
 * The first route whose path and method match, or NULL (which the pipeline answers with 404).
 * `path` is the normalized path without the query string. A route listing GET matches HEAD.
 */
const sc_route_t *sc_policy_match(const sc_policy_t *policy, const char *method, size_t method_len, const char *path,
                                  size_t path_len);

/**
 * 1 when `path` is `route_prefix` itself or lies below it ("/a" covers "/a" and "/a/b", not "/ab");
 * `nocase`: compared without ASCII case.
 */
int sc_policy_path_within(const char *path, size_t path_len, const char *prefix, size_t prefix_len, int nocase);

/**
 * Removes the policy's strip_prefix from a path when the path lies within it; the result points
 * into `path` or is "/" (static). Paths outside the prefix are returned unchanged.
 */
const char *sc_policy_strip(const sc_policy_t *policy, const char *path, size_t path_len, size_t *out_len);

/**
 * The SC_METHOD_* bit for a method name (exact, upper case), or 0 when it is not one of them.
 */
unsigned sc_policy_method_bit(const char *method, size_t len);

void sc_policy_free(sc_policy_t *policy);

#endif
