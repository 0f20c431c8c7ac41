#include "forward.h"

#include <string.h>

#include "headers.h"

h2o_iovec_t sc_forward_path(h2o_mem_pool_t *pool, const sc_policy_t *policy, h2o_iovec_t normalized, h2o_iovec_t raw_path,
                            size_t query_at)
{
    size_t path_len;
    const char *path = sc_policy_strip(policy, normalized.base, normalized.len, &path_len);
    size_t query_len = query_at != SIZE_MAX ? raw_path.len - query_at : 0;
    char *out = h2o_mem_alloc_pool(pool, path_len + query_len);
    memcpy(out, path, path_len);
    if (query_len != 0)
        memcpy(out + path_len, raw_path.base + query_at, query_len);
    return h2o_iovec_init(out, path_len + query_len);
}

/* The headers the sidecar owns towards the backend: whatever the client sent is dropped. */
static int owned_by_sidecar(const h2o_iovec_t *name)
{
    return sc_headers_name_loose_eq(name->base, name->len, H2O_STRLIT("x-tenant-id")) ||
           sc_headers_name_loose_prefix(name->base, name->len, H2O_STRLIT("x-auth-")) ||
           sc_headers_name_loose_eq(name->base, name->len, H2O_STRLIT("x-api-key")) ||
           sc_headers_name_loose_eq(name->base, name->len, H2O_STRLIT("x-request-id")) ||
           sc_headers_name_loose_eq(name->base, name->len, H2O_STRLIT("x-forwarded-for")) ||
           sc_headers_name_loose_eq(name->base, name->len, H2O_STRLIT("x-forwarded-proto"));
}

static int listed(const h2o_iovec_t *name, char *const *names, size_t n)
{
    for (size_t i = 0; i != n; ++i)
        if (sc_headers_name_loose_eq(name->base, name->len, names[i], strlen(names[i])))
            return 1;
    return 0;
}

typedef struct strip_rule {
    const sc_policy_t *policy;
    int drop_authorization;
} strip_rule_t;

static int removed(const h2o_iovec_t *name, void *ctx)
{
    const strip_rule_t *rule = ctx;
    if (name->len == 0) /* an obs-fold continuation line: h2o keeps it as a header without a name */
        return 1;
    if (rule->drop_authorization && sc_headers_name_loose_eq(name->base, name->len, H2O_STRLIT("authorization")))
        return 1;
    return owned_by_sidecar(name) || listed(name, rule->policy->remove_headers, rule->policy->num_remove_headers);
}

void sc_forward_strip_headers(h2o_headers_t *headers, const sc_policy_t *policy, int drop_authorization)
{
    strip_rule_t rule = {policy, drop_authorization};
    sc_headers_delete_if(headers, removed, &rule);
}

/*
 * X-Forwarded-For and X-Forwarded-Proto: a trusted proxy's are kept, the peer appended to the
 * first; anyone else's are replaced by the peer and the listener's scheme.
 */
static void set_forwarding_headers(sc_request_t *r, const sc_request_forwarded_t *fw)
{
    h2o_req_t *req = r->req;
    h2o_iovec_t peer = sc_request_peer(r), proto = fw->values.proto;
    if (peer.base != NULL) {
        h2o_iovec_t xff = fw->trusted ? sc_trusted_proxies_xff_append(&req->pool, fw->values.chain, peer) : peer;
        h2o_add_header(&req->pool, &req->headers, H2O_TOKEN_X_FORWARDED_FOR, NULL, xff.base, xff.len);
    }
    if (proto.len == 0)
        proto = r->service->tls != NULL ? h2o_iovec_init(H2O_STRLIT("https")) : h2o_iovec_init(H2O_STRLIT("http"));
    h2o_add_header_by_str(&req->pool, &req->headers, H2O_STRLIT("x-forwarded-proto"), 0, NULL, proto.base, proto.len);
}

void sc_forward_prepare(sc_request_t *r)
{
    h2o_req_t *req = r->req;
    const sc_policy_t *policy = r->service->policy;
    const sc_request_forwarded_t *fw = sc_request_forwarded(r); /* before the client's copies go */
    req->path = sc_forward_path(&req->pool, policy, r->path, req->path, req->query_at);
    /* Authorization goes on only when the policy allows it and no API key stood in for it: a
     * header nobody verified must not look verified to the backend */
    sc_forward_strip_headers(&req->headers, policy, !policy->forward_authorization || r->identity.method == SC_AUTH_API_KEY);
    h2o_add_header_by_str(&req->pool, &req->headers, H2O_STRLIT("x-request-id"), 0, NULL, r->id, SC_REQUEST_ID_LEN);
    set_forwarding_headers(r, fw);
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
