#include "cors.h"

#include <string.h>

#include "headers.h"

/* Response fields a browser script may read. */
#define EXPOSED_HEADERS "X-Request-Id, RateLimit, RateLimit-Policy, Retry-After"

int sc_cors_is_preflight(h2o_req_t *req, h2o_iovec_t *requested_method)
{
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("OPTIONS")))
        return 0;
    if (sc_headers_count(&req->headers, H2O_STRLIT("origin"), NULL) != 1)
        return 0;
    return sc_headers_count(&req->headers, H2O_STRLIT("access-control-request-method"), requested_method) == 1;
}

h2o_iovec_t sc_cors_allowed_origin(const sc_cors_t *cors, h2o_req_t *req)
{
    h2o_iovec_t none = {NULL, 0}, origin;
    if (!cors->enabled || sc_headers_count(&req->headers, H2O_STRLIT("origin"), &origin) != 1)
        return none;
    if (cors->any_origin)
        return origin;
    for (size_t i = 0; i != cors->num_origins; ++i)
        if (h2o_memis(origin.base, origin.len, cors->origins[i], strlen(cors->origins[i])))
            return origin;
    return none;
}

/* Every header named in Access-Control-Request-Headers must be allowed (case-insensitively). */
static int requested_headers_allowed(const sc_cors_t *cors, h2o_req_t *req)
{
    h2o_iovec_t list;
    size_t count = sc_headers_count(&req->headers, H2O_STRLIT("access-control-request-headers"), &list);
    if (count == 0)
        return 1;
    if (count > 1)
        return 0;
    const char *p = list.base, *end = list.base + list.len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ',' || *p == '\t'))
            ++p;
        const char *start = p;
        while (p < end && *p != ',' && *p != ' ' && *p != '\t')
            ++p;
        if (p == start)
            continue;
        int found = 0;
        for (size_t i = 0; i != cors->num_headers && !found; ++i)
            found = h2o_lcstris(start, (size_t)(p - start), cors->headers[i], strlen(cors->headers[i]));
        if (!found)
            return 0;
    }
    return 1;
}

static void add(h2o_req_t *req, const char *name, size_t name_len, const char *value, size_t value_len)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, name_len, 1, NULL, value, value_len);
}

int sc_cors_preflight_allowed(const sc_cors_t *cors, h2o_req_t *req, h2o_iovec_t origin, h2o_iovec_t requested_method)
{
    unsigned bit = sc_policy_method_bit(requested_method.base, requested_method.len);
    return origin.base != NULL && (cors->methods & bit) != 0 && requested_headers_allowed(cors, req);
}

/* A preflight's answer depends on all three request fields: caches must keep them apart. */
static void add_preflight_vary(h2o_req_t *req)
{
    add(req, H2O_STRLIT("vary"), H2O_STRLIT("Origin, Access-Control-Request-Method, Access-Control-Request-Headers"));
}

void sc_cors_answer_preflight(const sc_cors_t *cors, h2o_req_t *req, h2o_iovec_t origin)
{
    add_preflight_vary(req);
    add(req, H2O_STRLIT("access-control-allow-origin"), origin.base, origin.len);
    add(req, H2O_STRLIT("access-control-allow-methods"), cors->methods_text, strlen(cors->methods_text));
    add(req, H2O_STRLIT("access-control-allow-headers"), cors->headers_text, strlen(cors->headers_text));
    add(req, H2O_STRLIT("access-control-max-age"), cors->max_age_text, strlen(cors->max_age_text));
    req->res.status = 204;
    req->res.reason = "No Content";
    h2o_send_inline(req, "", 0); /* 204: no body and no Content-Length */
}

void sc_cors_refuse_preflight(h2o_req_t *req)
{
    add_preflight_vary(req);
}

void sc_cors_decorate_response(h2o_req_t *req, h2o_iovec_t origin)
{
    sc_headers_delete_loose(&req->res.headers, H2O_STRLIT("access-control-allow-origin"));
    add(req, H2O_STRLIT("access-control-allow-origin"), origin.base, origin.len);
    add(req, H2O_STRLIT("access-control-expose-headers"), H2O_STRLIT(EXPOSED_HEADERS));
    add(req, H2O_STRLIT("vary"), H2O_STRLIT("Origin"));
}
