#include "auth_jwt.h"

#include <string.h>

#include <openssl/sha.h>

#include "auth_failures.h"
#include "jwt.h"
#include "jwt_cache.h"
#include "jwt_keys.h"
#include "log.h"
#include "text.h"

const sc_denial_t sc_auth_jwt_waiting = {0, "waiting_for_keys", "waiting for the issuer's keys"};

static const char *message_for(sc_jwt_result_t result)
{
    switch (result) {
    case SC_JWT_EXPIRED:
        return "the bearer token has expired";
    case SC_JWT_NOT_YET_VALID:
        return "the bearer token is not valid yet";
    case SC_JWT_AUDIENCE_MISMATCH:
        return "the bearer token is not meant for this service";
    default:
        return "the bearer token is not valid";
    }
}

static const sc_denial_t *denial_for(h2o_mem_pool_t *pool, sc_jwt_result_t result)
{
    if (result == SC_JWT_INTERNAL_ERROR)
        return &sc_deny_jwt_internal;
    sc_denial_t *d = h2o_mem_alloc_pool(pool, sizeof(*d));
    *d = (sc_denial_t){401, sc_jwt_result_reason(result), message_for(result)};
    return d;
}

/* Values forwarded as headers must not be able to add headers of their own. */
static int header_safe(const char *s)
{
    return !sc_text_has_control(s, strlen(s));
}

static h2o_iovec_t pool_str(h2o_mem_pool_t *pool, const char *s)
{
    if (s == NULL)
        return h2o_iovec_init(NULL, 0);
    return h2o_strdup(pool, s, strlen(s));
}

static const sc_denial_t *take_claims(sc_request_t *r, const sc_jwt_claims_t *claims)
{
    h2o_mem_pool_t *pool = &r->req->pool;
    /* a token meant for another service of the same issuer is not one for this service */
    const sc_jwt_issuer_t *iss = claims->issuer;
    if (!sc_policy_audience_allowed(r->service->policy, iss->audiences, iss->num_audiences, claims->audiences))
        return denial_for(pool, SC_JWT_AUDIENCE_MISMATCH);
    if ((claims->subject != NULL && !header_safe(claims->subject)) || (claims->tenant != NULL && !header_safe(claims->tenant)))
        return &sc_deny_invalid_claims;
    r->identity.method = SC_AUTH_JWT;
    r->identity.subject = pool_str(pool, claims->subject);
    r->identity.tenant = pool_str(pool, claims->tenant);
    r->identity.issuer = h2o_iovec_init(claims->issuer->issuer, strlen(claims->issuer->issuer)); /* lives with the config */
    r->identity.scopes = h2o_mem_alloc_pool(pool, sizeof(h2o_iovec_t) * (claims->num_scopes + 1));
    r->identity.num_scopes = 0;
    for (size_t i = 0; i != claims->num_scopes; ++i)
        if (sc_text_scope_token_valid(claims->scopes[i], strlen(claims->scopes[i]))) /* anything else is dropped, never forwarded */
            r->identity.scopes[r->identity.num_scopes++] = pool_str(pool, claims->scopes[i]);
    return NULL;
}

const sc_denial_t *sc_auth_jwt(sc_request_t *r, h2o_iovec_t token, void (*resume)(sc_request_t *r, h2o_iovec_t token))
{
    const sc_request_env_t *env = r->env;
    int64_t now = r->req->processed_at.at.tv_sec;
    const sc_jwt_claims_t *cached = env->jwt_cache != NULL ? sc_jwt_cache_lookup(env->jwt_cache, token.base, token.len, now) : NULL;
    if (cached != NULL)
        return take_claims(r, cached);

    /* a token whose signature failed lately fails again, for the price of a hash */
    unsigned char digest[SC_AUTH_DIGEST_LEN];
    uint64_t now_ns = sc_request_env_now_ns();
    SHA256((const unsigned char *)token.base, token.len, digest);
    if (sc_auth_failures_known_bad_token(env->auth_failures, digest, now_ns))
        return denial_for(&r->req->pool, SC_JWT_BAD_SIGNATURE);

    sc_jwt_claims_t claims;
    sc_jwt_keyring_t fetched = sc_jwt_keys_ring(env->jwt_keys);
    const sc_jwt_issuer_t *issuer;
    sc_jwt_result_t result = sc_jwt_verify_ex(&r->config->jwt_issuers, &fetched, token.base, token.len, now, &claims, &issuer);
    /* new keys may be on the way: one early refresh per jwks_min_refresh_s, whatever the number of such tokens */
    if (result == SC_JWT_UNKNOWN_KEY && resume != NULL && issuer != NULL && issuer->source != NULL &&
        sc_jwks_refresher_source_request_refresh(issuer->source) && sc_jwt_keys_wait(r, issuer->source, token, resume) == 0)
        return &sc_auth_jwt_waiting;
    if (result == SC_JWT_BAD_SIGNATURE)
        sc_auth_failures_remember_bad_token(env->auth_failures, digest, now_ns);
    if (result != SC_JWT_OK) {
        sc_log_debug("service %s: bearer token refused: %s (request %s)", r->service->name, sc_jwt_result_reason(result), r->id);
        return denial_for(&r->req->pool, result);
    }
    const sc_denial_t *denial = take_claims(r, &claims);
    if (denial == NULL && env->jwt_cache != NULL)
        sc_jwt_cache_insert(env->jwt_cache, token.base, token.len, &claims); /* takes a copy */
    sc_jwt_claims_free(&claims);
    return denial;
}
