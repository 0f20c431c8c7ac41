#include "identity.h"

#include <string.h>

#include "headers.h"
#include "text.h"

const sc_denial_t *sc_identity_tenant_header(const h2o_headers_t *headers, h2o_iovec_t *tenant)
{
    size_t n = 0;
    /* count every spelling a backend could read as the same header (X_Tenant_ID...) */
    for (size_t i = 0; i != headers->size; ++i) {
        const h2o_iovec_t *name = headers->entries[i].name;
        if (sc_headers_name_loose_eq(name->base, name->len, H2O_STRLIT("x-tenant-id"))) {
            if (n++ == 0)
                *tenant = headers->entries[i].value;
        }
    }
    if (n == 0)
        return &sc_deny_tenant_header_missing;
    if (n > 1 || memchr(tenant->base, ',', tenant->len) != NULL)
        return &sc_deny_tenant_header_repeated;
    if (!sc_text_tenant_id_valid(tenant->base, tenant->len))
        return &sc_deny_tenant_header_invalid;
    return NULL;
}

const sc_denial_t *sc_identity_check_apikey(const sc_apikey_record_t *key, int64_t now)
{
    if (!key->active)
        return &sc_deny_api_key_revoked;
    if (key->expires_at != 0 && now >= key->expires_at)
        return &sc_deny_api_key_expired;
    return NULL;
}

static int iovec_eq_str(h2o_iovec_t v, const char *s)
{
    return h2o_memis(v.base, v.len, s, strlen(s));
}

static int service_allowed(const sc_tenant_record_t *t, const char *service)
{
    return t->all_services || sc_words_contain(t->services, t->num_services, service, strlen(service));
}

/* The credential's scopes that the tenant may hold, space-separated. */
static h2o_iovec_t granted_scopes(const sc_identity_t *id, const sc_tenant_record_t *t, h2o_mem_pool_t *pool)
{
    size_t cap = 1;
    for (size_t i = 0; i != id->num_scopes; ++i)
        cap += id->scopes[i].len + 1;
    char *buf = h2o_mem_alloc_pool(pool, cap);
    size_t len = 0;
    for (size_t i = 0; i != id->num_scopes; ++i) {
        h2o_iovec_t s = id->scopes[i];
        if (!t->all_scopes && !sc_words_contain(t->scopes, t->num_scopes, s.base, s.len))
            continue;
        if (len != 0)
            buf[len++] = ' ';
        memcpy(buf + len, s.base, s.len);
        len += s.len;
    }
    buf[len] = '\0';
    return h2o_iovec_init(buf, len);
}

static int holds_scope(h2o_iovec_t granted, const char *scope)
{
    size_t n = strlen(scope);
    const char *p = granted.base, *end = granted.base + granted.len;
    while (p < end) {
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        const char *word_end = sp != NULL ? sp : end;
        if ((size_t)(word_end - p) == n && memcmp(p, scope, n) == 0)
            return 1;
        p = word_end + 1;
    }
    return 0;
}

const sc_denial_t *sc_identity_check_jwt_tenant(const sc_identity_t *id, h2o_iovec_t header_tenant)
{
    if (!h2o_memis(id->tenant.base, id->tenant.len, header_tenant.base, header_tenant.len))
        return &sc_deny_tenant_mismatch;
    return NULL;
}

const sc_denial_t *sc_identity_authorize(const sc_identity_t *id, const sc_tenant_record_t *t, h2o_iovec_t header_tenant,
                                         const char *service, const sc_route_t *route, sc_issuers_default_t issuers_default,
                                         h2o_mem_pool_t *pool, h2o_iovec_t *granted)
{
    if (!t->active)
        return &sc_deny_tenant_suspended;
    if (!service_allowed(t, service))
        return &sc_deny_service_not_allowed;
    if (!h2o_memis(id->tenant.base, id->tenant.len, header_tenant.base, header_tenant.len) || !iovec_eq_str(header_tenant, t->id))
        return &sc_deny_tenant_mismatch;
    if (id->method == SC_AUTH_JWT &&
        (t->num_issuers != 0 ? !sc_words_contain(t->issuers, t->num_issuers, id->issuer.base, id->issuer.len)
                             : issuers_default == SC_ISSUERS_DEFAULT_NONE))
        return &sc_deny_issuer_not_allowed;
    *granted = granted_scopes(id, t, pool);
    for (size_t i = 0; i != route->num_scopes; ++i)
        if (!holds_scope(*granted, route->scopes[i]))
            return &sc_deny_insufficient_scope;
    return NULL;
}
