#include "forward.h"

#include <netdb.h>
#include <string.h>
#include <sys/socket.h>

#include "headers.h"

h2o_iovec_t sc_forward_path(h2o_mem_pool_t *pool, const sc_policy_t *policy, h2o_iovec_t raw_path, h2o_iovec_t normalized,
                            size_t query_at)
{
    size_t raw_len = query_at != SIZE_MAX ? query_at : raw_path.len;
    h2o_iovec_t path;
    size_t stripped_len;

    if (raw_len == normalized.len && memcmp(raw_path.base, normalized.base, raw_len) == 0) {
        const char *stripped = sc_policy_strip(policy, raw_path.base, raw_len, &stripped_len);
        path = h2o_iovec_init(stripped, stripped_len);
    } else {
        const char *stripped = sc_policy_strip(policy, normalized.base, normalized.len, &stripped_len);
        path = h2o_uri_escape(pool, stripped, stripped_len, "/@:");
    }
    if (query_at == SIZE_MAX && path.base + path.len == raw_path.base + raw_path.len)
        return path; /* a suffix of the raw path: nothing to copy */
    size_t query_len = query_at != SIZE_MAX ? raw_path.len - query_at : 0;
    char *out = h2o_mem_alloc_pool(pool, path.len + query_len);
    memcpy(out, path.base, path.len);
    if (query_len != 0)
        memcpy(out + path.len, raw_path.base + query_at, query_len);
    return h2o_iovec_init(out, path.len + query_len);
}

static void set_forwarded_for(h2o_req_t *req)
{
    struct sockaddr_storage ss;
    socklen_t sslen = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    sc_headers_delete_loose(&req->headers, H2O_STRLIT("x-forwarded-for"));
    if (sslen == 0)
        return;
    char *host = h2o_mem_alloc_pool(&req->pool, NI_MAXHOST);
    size_t len = h2o_socket_getnumerichost((struct sockaddr *)&ss, sslen, host);
    if (len != SIZE_MAX)
        h2o_add_header(&req->pool, &req->headers, H2O_TOKEN_X_FORWARDED_FOR, NULL, host, len);
}

static void strip_identity(h2o_req_t *req, const sc_policy_t *policy)
{
    sc_headers_delete_loose(&req->headers, H2O_STRLIT("x-tenant-id"));
    sc_headers_delete_prefix_loose(&req->headers, H2O_STRLIT("x-auth-"));
    sc_headers_delete_loose(&req->headers, H2O_STRLIT("x-api-key"));
    if (!policy->forward_authorization)
        sc_headers_delete_loose(&req->headers, H2O_STRLIT("authorization"));
}

void sc_forward_prepare(sc_request_t *r)
{
    h2o_req_t *req = r->req;
    req->path = sc_forward_path(&req->pool, r->service->policy, req->path, req->path_normalized, req->query_at);
    strip_identity(req, r->service->policy);
    sc_headers_replace(&req->pool, &req->headers, H2O_STRLIT("x-request-id"), r->id, SC_REQUEST_ID_LEN);
    set_forwarded_for(req);
}

static void add(h2o_req_t *req, const char *name, size_t name_len, h2o_iovec_t value)
{
    h2o_add_header_by_str(&req->pool, &req->headers, name, name_len, 0, NULL, value.base, value.len);
}

void sc_forward_set_identity(sc_request_t *r)
{
    h2o_req_t *req = r->req;
    const sc_identity_t *id = &r->identity;
    add(req, H2O_STRLIT("x-tenant-id"), r->tenant);
    if (id->subject.len != 0)
        add(req, H2O_STRLIT("x-auth-subject"), id->subject);
    if (id->method == SC_AUTH_JWT)
        add(req, H2O_STRLIT("x-auth-method"), h2o_iovec_init(H2O_STRLIT("jwt")));
    else
        add(req, H2O_STRLIT("x-auth-method"), h2o_iovec_init(H2O_STRLIT("api_key")));
    if (id->key_id.len != 0)
        add(req, H2O_STRLIT("x-auth-key-id"), id->key_id);
    add(req, H2O_STRLIT("x-auth-scopes"), r->granted_scopes);
}
