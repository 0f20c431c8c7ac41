#include "ctl_token_jwt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* libjwt's <jwt.h>, by full path (CMakeLists.txt): the sidecar's own jwt.h has the same name */
#include LIBJWT_HEADER

static const struct {
    sc_jws_alg_t ours;
    jwt_alg_t theirs;
} algs[] = {
    {SC_JWS_HS256, JWT_ALG_HS256}, {SC_JWS_HS384, JWT_ALG_HS384}, {SC_JWS_HS512, JWT_ALG_HS512}, {SC_JWS_RS256, JWT_ALG_RS256},
    {SC_JWS_RS384, JWT_ALG_RS384}, {SC_JWS_RS512, JWT_ALG_RS512}, {SC_JWS_ES256, JWT_ALG_ES256}, {SC_JWS_ES384, JWT_ALG_ES384},
};

unsigned ctl_token_jwt_signable(void)
{
    unsigned set = 0;
    for (size_t i = 0; i != sizeof(algs) / sizeof(algs[0]); ++i)
        set |= SC_JWS_ALG_BIT(algs[i].ours);
    return set;
}

/* JWT_ALG_INVAL for an algorithm libjwt cannot sign; never JWT_ALG_NONE. */
static jwt_alg_t libjwt_alg(sc_jws_alg_t alg)
{
    for (size_t i = 0; i != sizeof(algs) / sizeof(algs[0]); ++i)
        if (algs[i].ours == alg)
            return algs[i].theirs;
    return JWT_ALG_INVAL;
}

/* libjwt answers with errno values: ENOMEM is ours to report as such, anything else is a refusal. */
static int libjwt_failed(ctl_err_t *err, int e, const char *what)
{
    if (e == ENOMEM)
        return ctl_fail(err, CTL_EXIT_REFUSED, "out of memory");
    return ctl_fail(err, CTL_EXIT_USAGE, "%s (libjwt: %s)", what, strerror(e));
}

static int add_string(jwt_t *jwt, const char *name, const char *value, ctl_err_t *err)
{
    int e;
    if (value == NULL || (e = jwt_add_grant(jwt, name, value)) == 0)
        return CTL_EXIT_OK;
    if (e == EEXIST)
        return ctl_fail(err, CTL_EXIT_USAGE, "claim \"%s\" is given twice (by --claim and by another option or the issuer)", name);
    return libjwt_failed(err, e, "cannot add a claim");
}

/* "NAME=VALUE" as a string claim. */
static int add_extra(jwt_t *jwt, const char *spec, ctl_err_t *err)
{
    const char *eq = strchr(spec, '=');
    if (eq == NULL || eq == spec)
        return ctl_fail(err, CTL_EXIT_USAGE, "--claim: \"%s\" is not NAME=VALUE", spec);
    char *name = strndup(spec, (size_t)(eq - spec));
    if (name == NULL)
        return ctl_fail(err, CTL_EXIT_REFUSED, "out of memory");
    int rc = add_string(jwt, name, eq + 1, err);
    free(name);
    return rc;
}

static int add_claims(jwt_t *jwt, const ctl_token_claims_t *c, ctl_err_t *err)
{
    int rc = CTL_EXIT_OK, e;
    if ((e = jwt_add_grant_int(jwt, "iat", (long)c->iat)) != 0 || (e = jwt_add_grant_int(jwt, "exp", (long)c->exp)) != 0)
        return libjwt_failed(err, e, "cannot add a claim");
    const char *strings[][2] = {{"iss", c->issuer},          {"sub", c->subject},          {"aud", c->audience},
                                {"client_id", c->client_id}, {c->tenant_claim, c->tenant}, {c->scopes_claim, c->scopes}};
    for (size_t i = 0; i != sizeof(strings) / sizeof(strings[0]) && rc == CTL_EXIT_OK; ++i)
        rc = add_string(jwt, strings[i][0], strings[i][1], err);
    for (size_t i = 0; i != c->num_extra && rc == CTL_EXIT_OK; ++i)
        rc = add_extra(jwt, c->extra[i], err);
    return rc;
}

int ctl_token_jwt_sign(const ctl_token_claims_t *claims, sc_jws_alg_t alg, const char *kid, const unsigned char *key, size_t len,
                       char **out, ctl_err_t *err)
{
    jwt_alg_t theirs = libjwt_alg(alg);
    jwt_t *jwt = NULL;
    int rc, e;

    *out = NULL;
    if (theirs == JWT_ALG_INVAL)
        return ctl_fail(err, CTL_EXIT_USAGE, "libjwt cannot sign %s", sc_jwks_alg_name(alg));
    if (len == 0 || len > INT32_MAX) /* libjwt would sign nothing with an empty key */
        return ctl_fail(err, CTL_EXIT_USAGE, "the key is empty or too large");
    if ((e = jwt_new(&jwt)) != 0)
        return libjwt_failed(err, e, "cannot make a token");
    if ((rc = add_claims(jwt, claims, err)) != CTL_EXIT_OK)
        goto Exit;
    if (kid != NULL && (e = jwt_add_header(jwt, "kid", kid)) != 0) {
        rc = libjwt_failed(err, e, "cannot add the kid");
        goto Exit;
    }
    /* libjwt copies the key and scrubs its copy in jwt_free */
    if ((e = jwt_set_alg(jwt, theirs, key, (int)len)) != 0) {
        rc = libjwt_failed(err, e, "cannot use the key");
        goto Exit;
    }
    if ((*out = jwt_encode_str(jwt)) == NULL)
        rc = errno == ENOMEM ? ctl_fail(err, CTL_EXIT_REFUSED, "out of memory")
                             : ctl_fail(err, CTL_EXIT_USAGE, "libjwt could not sign with the key (%s)", sc_jwks_alg_name(alg));
Exit:
    jwt_free(jwt);
    return rc;
}
