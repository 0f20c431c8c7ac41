/*
 * identity: who is calling and whether they may use this route, as pure decisions over
 * already-fetched data (the pipeline fetches; this file judges), so that every rule is unit
 * tested without a network.
 *
 * The rules, in order:
 *   X-Tenant-ID: exactly one, matching [A-Za-z0-9._-]{1,64}              else 400
 *   API key: known under that tenant, active, not expired                  else 401
 *   JWT: its tenant claim equals the header (before any record is read)    else 403 tenant_mismatch
 *   tenant: exists                                                         else 403 tenant_unknown
 *           active                                                         else 403 tenant_suspended
 *           may use this service                                           else 403 service_not_allowed
 *   the credential's tenant (JWT claim, key record) equals the header      else 403 tenant_mismatch
 *   a JWT's issuer is one the tenant names; a tenant that names none
 *   accepts any configured issuer, or none (tenant_issuers_default)       else 403 issuer_not_allowed
 *   the route's scopes are all held (credential scopes, capped by the
 *   tenant's)                                                              else 403 insufficient_scope
 */
#ifndef SC_IDENTITY_H
#define SC_IDENTITY_H

#include <h2o.h>
#include <stdint.h>

#include "denials.h"
#include "policy.h"
#include "schema.h"

/*
 * Which JWT issuers may speak for a tenant whose record has no "issuers" field (host file:
 * tenant_issuers_default): every configured issuer (the default, for compatibility), or none,
 * so that a tenant accepts JWTs only from the issuers its record names.
 */
typedef enum { SC_ISSUERS_DEFAULT_ANY = 0, SC_ISSUERS_DEFAULT_NONE } sc_issuers_default_t;

/* The authenticated caller, as the credential says. Strings live in the request pool. */
typedef struct sc_identity {
    unsigned method;    /* SC_AUTH_JWT or SC_AUTH_API_KEY */
    h2o_iovec_t tenant; /* the JWT's tenant claim (may be empty) or the key record's tenant */
    h2o_iovec_t subject;
    h2o_iovec_t key_id; /* API keys only */
    h2o_iovec_t issuer; /* JWTs only */
    h2o_iovec_t *scopes;
    size_t num_scopes;
} sc_identity_t;

/**
 * Reads X-Tenant-ID. Returns NULL and sets *tenant, or the 400 denial.
 */
const sc_denial_t *sc_identity_tenant_header(const h2o_headers_t *headers, h2o_iovec_t *tenant);

/**
 * Checks an API key record: active and not expired at `now` (Unix seconds).
 */
const sc_denial_t *sc_identity_check_apikey(const sc_apikey_record_t *key, int64_t now);

/**
 * A JWT speaks for the tenant its claim names: any other X-Tenant-ID is tenant_mismatch, decided
 * before that tenant's record is read, so that the answer is the same whatever the other
 * tenant's state (unknown, suspended, not allowed here): a token learns nothing about it.
 */
const sc_denial_t *sc_identity_check_jwt_tenant(const sc_identity_t *id, h2o_iovec_t header_tenant);

/**
 * Applies the tenant rules above. On success returns NULL and writes into *granted the scopes
 * the backend may rely on (credential scopes capped by the tenant's), allocated in `pool`.
 */
const sc_denial_t *sc_identity_authorize(const sc_identity_t *id, const sc_tenant_record_t *tenant, h2o_iovec_t header_tenant,
                                         const char *service, const sc_route_t *route, sc_issuers_default_t issuers_default,
                                         h2o_mem_pool_t *pool, h2o_iovec_t *granted);

#endif
