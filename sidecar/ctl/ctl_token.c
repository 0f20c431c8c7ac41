#include "ctl_token.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl_output.h"
#include "ctl_token_jwt.h"
#include "ctl_token_key.h"

#define ALL_ALGS ((SC_JWS_ALG_BIT(SC_JWS_ALG_COUNT) - 1) & ~SC_JWS_ALG_BIT(SC_JWS_ALG_INVALID))

/* What the configuration says the token must look like; without one, the defaults and options. */
typedef struct target {
    const sc_jwt_issuer_t *issuer; /* NULL: not configured here */
    unsigned allowed;
    ctl_token_claims_t claims;
} target_t;

static int has_extra_claim(const ctl_args_t *args, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i != args->num_claims; ++i)
        if (strncmp(args->claims[i], name, n) == 0 && args->claims[i][n] == '=')
            return 1;
    return 0;
}

/*
 * Who the token is for, as the issuer checks it (jwt.c, check_recipient): an ID token names one
 * of its audiences, an access token one of its client ids. --aud and --claim client_id=... win.
 */
static void choose_recipient(const ctl_args_t *args, const sc_jwt_issuer_t *iss, ctl_token_claims_t *c)
{
    c->audience = args->audience;
    if (c->audience == NULL && iss->token_use != SC_JWT_TOKEN_USE_ACCESS && iss->num_audiences != 0)
        c->audience = iss->audiences[0];
    if (c->audience == NULL && iss->num_client_ids != 0 && !has_extra_claim(args, "client_id"))
        c->client_id = iss->client_ids[0];
}

static int find_target(const ctl_args_t *args, const sc_jwt_issuers_t *issuers, int64_t now, target_t *t, ctl_err_t *err)
{
    const char *name = args->issuers;
    memset(t, 0, sizeof(*t));
    t->allowed = ALL_ALGS;
    t->claims = (ctl_token_claims_t){.issuer = name,
                                     .subject = args->subject,
                                     .audience = args->audience,
                                     .tenant_claim = args->tenant_claim != NULL ? args->tenant_claim : "tenant_id",
                                     .tenant = args->tenant_filter,
                                     .scopes_claim = "scope",
                                     .scopes = args->scopes,
                                     .iat = now,
                                     .exp = now + args->ttl_s,
                                     .extra = args->claims,
                                     .num_extra = args->num_claims};
    if (issuers == NULL)
        return CTL_EXIT_OK;
    if ((t->issuer = sc_jwt_issuers_find(issuers, name, strlen(name))) == NULL)
        return ctl_fail(err, CTL_EXIT_USAGE, "--issuer %s: not an issuer of the host file (its jwt_issuers)", name);
    t->allowed = t->issuer->algorithms;
    if (args->tenant_claim == NULL && t->issuer->tenant_claim != NULL)
        t->claims.tenant_claim = t->issuer->tenant_claim;
    if (t->issuer->scopes_claims != NULL)
        t->claims.scopes_claim = t->issuer->scopes_claims[0]; /* a space-separated string is read from any of them */
    choose_recipient(args, t->issuer, &t->claims);
    return CTL_EXIT_OK;
}

/* The kid: --kid, else the configured key's own; and whether the issuer would know this key. */
static void choose_kid(const ctl_args_t *args, const target_t *t, const ctl_token_key_t *key, ctl_token_t *out)
{
    const sc_jwk_t *match = NULL;
    if (t->issuer != NULL)
        match = ctl_token_key_match(key, out->alg, t->issuer->keys, t->issuer->num_keys);
    out->kid = args->kid != NULL ? args->kid : match != NULL ? match->kid : NULL;
    /* keys fetched from the provider are not known here: no verdict for such an issuer */
    out->key_unknown = t->issuer != NULL && match == NULL && t->issuer->remote == NULL;
}

int ctl_token_make(const ctl_args_t *args, const sc_jwt_issuers_t *issuers, int64_t now, ctl_token_t *out, ctl_err_t *err)
{
    sc_jws_alg_t requested = args->alg != NULL ? sc_jwks_alg_from_name(args->alg, strlen(args->alg)) : SC_JWS_ALG_INVALID;
    ctl_token_key_t key;
    target_t t;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = find_target(args, issuers, now, &t, err)) != CTL_EXIT_OK)
        return rc;
    if ((rc = ctl_token_key_load(args->key_file, &key, err)) != CTL_EXIT_OK)
        return rc;
    if (requested == SC_JWS_ALG_INVALID && t.issuer != NULL) {
        /* the key is configured for the issuer: sign with the algorithm the sidecar pinned it to */
        const sc_jwk_t *configured = ctl_token_key_match(&key, SC_JWS_ALG_INVALID, t.issuer->keys, t.issuer->num_keys);
        requested = configured != NULL ? configured->alg : SC_JWS_ALG_INVALID;
    }
    rc = ctl_token_key_choose_alg(&key, requested, t.allowed, ctl_token_jwt_signable(), &out->alg, err);
    if (rc == CTL_EXIT_OK) {
        choose_kid(args, &t, &key, out);
        out->exp = t.claims.exp;
        rc = ctl_token_jwt_sign(&t.claims, out->alg, out->kid, key.bytes, key.len, &out->token, err);
    }
    ctl_token_key_clear(&key);
    return rc;
}

void ctl_token_free(ctl_token_t *token)
{
    free(token->token);
    memset(token, 0, sizeof(*token));
}

static int print_token(int json, const ctl_token_t *t, ctl_err_t *err)
{
    if (json) {
        json_t *doc = json_object();
        json_object_set_new(doc, "token", json_string(t->token));
        json_object_set_new(doc, "alg", json_string(sc_jwks_alg_name(t->alg)));
        json_object_set_new(doc, "kid", t->kid != NULL ? json_string(t->kid) : json_null());
        json_object_set_new(doc, "expires_at", json_integer(t->exp));
        return ctl_output_json(doc, err);
    }
    if (printf("%s\n", t->token) < 0 || fflush(stdout) != 0)
        return ctl_fail(err, CTL_EXIT_REFUSED, "cannot write to standard output");
    return CTL_EXIT_OK;
}

int ctl_token_run(const ctl_args_t *args, const sc_jwt_issuers_t *issuers, int64_t now, ctl_err_t *err)
{
    ctl_token_t t;
    int rc = ctl_token_make(args, issuers, now, &t, err);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (t.key_unknown)
        ctl_output_warning("--key-file matches none of the keys configured for %s (as %s): the sidecar will answer 401",
                           args->issuers, sc_jwks_alg_name(t.alg));
    rc = print_token(args->json, &t, err);
    ctl_token_free(&t);
    return rc;
}
