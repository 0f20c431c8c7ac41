/*
 * denials: every way the sidecar refuses a request, in one catalogue: the HTTP status, the
 * machine-readable reason (in the JSON body, the access log and the denials metric) and the
 * message for humans. JWT verification failures add their own reasons (jwt.h); they are all
 * 401 invalid-token variants.
 */
#ifndef SC_DENIALS_H
#define SC_DENIALS_H

#include <stddef.h>

typedef struct sc_denial {
    int status;
    const char *reason;  /* machine code, in the error body and the logs */
    const char *message; /* for humans */
} sc_denial_t;

extern const sc_denial_t sc_deny_no_route, sc_deny_missing_credentials, sc_deny_ambiguous_credentials, sc_deny_invalid_api_key,
    sc_deny_tenant_unknown, sc_deny_store_unavailable, sc_deny_record_invalid, sc_deny_tenant_header_missing,
    sc_deny_tenant_header_repeated, sc_deny_tenant_header_invalid, sc_deny_api_key_revoked, sc_deny_api_key_expired,
    sc_deny_tenant_suspended, sc_deny_service_not_allowed, sc_deny_tenant_mismatch, sc_deny_issuer_not_allowed,
    sc_deny_insufficient_scope, sc_deny_invalid_claims, sc_deny_jwt_internal, sc_deny_rate_limited, sc_deny_quota_exceeded,
    sc_deny_cors_not_allowed, sc_deny_path_rejected, sc_deny_auth_failures;

/**
 * Calls cb with every reason a request can be refused for (the JWT ones included): the server
 * registers them with the metrics before the workers start, so each has its series.
 */
void sc_denials_each_reason(void (*cb)(const char *reason));

#endif
