#include "forward.h"

#include <arpa/inet.h>
#include <netinet/in.h>
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

/* Dotted quad, by hand: this runs on every request (inet_ntop costs several times more). */
static size_t format_ipv4(const struct in_addr *addr, char *out)
{
    const unsigned char *b = (const unsigned char *)&addr->s_addr;
    char *p = out;
    for (int i = 0; i != 4; ++i) {
        unsigned v = b[i];
        if (v >= 100)
            *p++ = (char)('0' + v / 100);
        if (v >= 10)
            *p++ = (char)('0' + v / 10 % 10);
        *p++ = (char)('0' + v % 10);
        if (i != 3)
            *p++ = '.';
    }
    return (size_t)(p - out);
}

h2o_iovec_t sc_peer_address(h2o_req_t *req)
{
    struct sockaddr_storage ss;
    socklen_t sslen = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    if (sslen == 0 || (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
        return h2o_iovec_init(NULL, 0);
    char *text = h2o_mem_alloc_pool(&req->pool, INET6_ADDRSTRLEN);
    if (ss.ss_family == AF_INET)
        return h2o_iovec_init(text, format_ipv4(&((struct sockaddr_in *)&ss)->sin_addr, text));
    if (inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, text, INET6_ADDRSTRLEN) == NULL)
        return h2o_iovec_init(NULL, 0);
    return h2o_iovec_init(text, strlen(text));
}

h2o_iovec_t sc_request_peer(sc_request_t *r)
{
    if (r->peer.base == NULL)
        r->peer = sc_peer_address(r->req);
    return r->peer;
}

/* The headers the sidecar owns towards the backend: whatever the client sent is dropped. */
static int owned_by_sidecar(const h2o_iovec_t *name, int forward_authorization)
{
    if (name->len < 9) /* shorter than the shortest name below ("x-api-key") */
        return 0;
    if (name->base[0] == 'a' || name->base[0] == 'A')
        return !forward_authorization && sc_header_name_loose_eq(name->base, name->len, H2O_STRLIT("authorization"));
    if (name->base[0] != 'x' && name->base[0] != 'X')
        return 0;
    return sc_header_name_loose_eq(name->base, name->len, H2O_STRLIT("x-tenant-id")) ||
           sc_header_name_loose_prefix(name->base, name->len, H2O_STRLIT("x-auth-")) ||
           sc_header_name_loose_eq(name->base, name->len, H2O_STRLIT("x-api-key")) ||
           sc_header_name_loose_eq(name->base, name->len, H2O_STRLIT("x-request-id")) ||
           sc_header_name_loose_eq(name->base, name->len, H2O_STRLIT("x-forwarded-for"));
}

/* One pass over the request headers, keeping their order. */
static void strip_owned_headers(h2o_headers_t *headers, int forward_authorization)
{
    size_t kept = 0;
    for (size_t i = 0; i != headers->size; ++i)
        if (!owned_by_sidecar(headers->entries[i].name, forward_authorization))
            headers->entries[kept++] = headers->entries[i];
    headers->size = kept;
}

void sc_forward_prepare(sc_request_t *r)
{
    h2o_req_t *req = r->req;
    req->path = sc_forward_path(&req->pool, r->service->policy, req->path, req->path_normalized, req->query_at);
    strip_owned_headers(&req->headers, r->service->policy->forward_authorization);
    h2o_add_header_by_str(&req->pool, &req->headers, H2O_STRLIT("x-request-id"), 0, NULL, r->id, SC_REQUEST_ID_LEN);
    h2o_iovec_t peer = sc_request_peer(r);
    if (peer.base != NULL)
        h2o_add_header(&req->pool, &req->headers, H2O_TOKEN_X_FORWARDED_FOR, NULL, peer.base, peer.len);
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
