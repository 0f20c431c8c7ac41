#include "denials.h"

#include "jwt.h"

const sc_denial_t sc_deny_no_route = {404, "no_route", "no route of this service matches the request"};
const sc_denial_t sc_deny_missing_credentials = {401, "missing_credentials", "this route requires a JWT or an API key"};
const sc_denial_t sc_deny_ambiguous_credentials = {401, "ambiguous_credentials",
                                                   "send exactly one Authorization or X-Api-Key header"};
const sc_denial_t sc_deny_invalid_api_key = {401, "invalid_api_key", "the API key is not valid for this tenant"};
const sc_denial_t sc_deny_tenant_unknown = {403, "tenant_unknown", "the tenant does not exist"};
const sc_denial_t sc_deny_store_unavailable = {503, "tenant_store_unavailable", "tenant records cannot be read right now"};
const sc_denial_t sc_deny_record_invalid = {503, "tenant_record_invalid", "a tenant record is malformed"};
const sc_denial_t sc_deny_tenant_header_missing = {400, "tenant_header_missing", "X-Tenant-ID is required"};
const sc_denial_t sc_deny_tenant_header_repeated = {400, "tenant_header_repeated", "send X-Tenant-ID exactly once"};
const sc_denial_t sc_deny_tenant_header_invalid = {400, "tenant_header_invalid", "X-Tenant-ID must match [A-Za-z0-9._-]{1,64}"};
const sc_denial_t sc_deny_api_key_revoked = {401, "api_key_revoked", "the API key has been revoked"};
const sc_denial_t sc_deny_api_key_expired = {401, "api_key_expired", "the API key has expired"};
const sc_denial_t sc_deny_tenant_suspended = {403, "tenant_suspended", "the tenant is suspended"};
const sc_denial_t sc_deny_service_not_allowed = {403, "service_not_allowed", "the tenant may not use this service"};
const sc_denial_t sc_deny_tenant_mismatch = {403, "tenant_mismatch", "the credential belongs to another tenant"};
const sc_denial_t sc_deny_issuer_not_allowed = {403, "issuer_not_allowed", "the token's issuer may not speak for this tenant"};
const sc_denial_t sc_deny_insufficient_scope = {403, "insufficient_scope", "the credential lacks a scope this route requires"};
const sc_denial_t sc_deny_invalid_claims = {401, "invalid_claims", "the token carries claims that cannot be forwarded"};
const sc_denial_t sc_deny_jwt_internal = {500, "internal_error", "the token could not be verified"};
const sc_denial_t sc_deny_rate_limited = {429, "rate_limited", "too many requests for this tenant: retry later"};
const sc_denial_t sc_deny_quota_exceeded = {429, "quota_exceeded", "the tenant's daily quota is used up"};
const sc_denial_t sc_deny_cors_not_allowed = {403, "cors_not_allowed",
                                              "this origin, method or header is not allowed by the CORS policy"};

const sc_denial_t sc_deny_path_rejected = {
    400, "path_rejected", "the request path has a form this service does not accept (;, \\, %2F or %5C, a bad escape)"};

const sc_denial_t sc_deny_auth_failures = {429, "auth_failures", "too many failed authentications from this client: retry later"};

static const sc_denial_t *const all[] = {
    &sc_deny_no_route,
    &sc_deny_missing_credentials,
    &sc_deny_ambiguous_credentials,
    &sc_deny_invalid_api_key,
    &sc_deny_tenant_unknown,
    &sc_deny_store_unavailable,
    &sc_deny_record_invalid,
    &sc_deny_tenant_header_missing,
    &sc_deny_tenant_header_repeated,
    &sc_deny_tenant_header_invalid,
    &sc_deny_api_key_revoked,
    &sc_deny_api_key_expired,
    &sc_deny_tenant_suspended,
    &sc_deny_service_not_allowed,
    &sc_deny_tenant_mismatch,
    &sc_deny_issuer_not_allowed,
    &sc_deny_insufficient_scope,
    &sc_deny_invalid_claims,
    &sc_deny_jwt_internal,
    &sc_deny_rate_limited,
    &sc_deny_quota_exceeded,
    &sc_deny_cors_not_allowed,
    &sc_deny_path_rejected,
    &sc_deny_auth_failures,
};

void sc_denials_each_reason(void (*cb)(const char *reason))
{
    for (size_t i = 0; i != sizeof(all) / sizeof(all[0]); ++i)
        cb(all[i]->reason);
    for (int r = SC_JWT_OK + 1; r != SC_JWT_RESULT_COUNT; ++r)
        cb(sc_jwt_result_reason((sc_jwt_result_t)r));
}
