/*
 * ctl_token_jwt: encodes and signs a test token with libjwt 1.10.2. The only file that includes
 * <jwt.h>, and for signing only: libjwt is unfit to verify (an empty key disables verification,
 * an RSA public key verifies HS256 tokens, no time claims, no JWKS, a PEM parse per call), which
 * is why the sidecar verifies with its own code (jwt.h). Signing with an independent
 * implementation is also what lets the tests check that verifier against a second producer of
 * tokens besides the `jose` fixtures.
 */
#ifndef SC_CTL_TOKEN_JWT_H
#define SC_CTL_TOKEN_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "ctl_status.h"
#include "jwks.h"

/* The claims of a token; NULL strings are left out. */
typedef struct ctl_token_claims {
    const char *issuer; /* required */
    const char *subject;
    const char *audience;
    const char *client_id;
    const char *tenant_claim; /* the claim's name; required */
    const char *tenant;       /* required */
    const char *scopes_claim; /* the claim's name; required when scopes is given */
    const char *scopes;       /* space-separated */
    int64_t iat, exp;
    const char *const *extra; /* "NAME=VALUE": string claims; a name set above is refused */
    size_t num_extra;
} ctl_token_claims_t;

/**
 * The set (SC_JWS_ALG_BIT) of algorithms libjwt can sign that the sidecar also verifies:
 * HS256/384/512, RS256/384/512, ES256/384 (no PS*: libjwt 1.10 has none).
 */
unsigned ctl_token_jwt_signable(void);

/**
 * Signs the claims with `alg` and the key (PEM private key text, or the HMAC secret), with "kid"
 * in the header when not NULL. *out receives the compact token (free()). CTL_EXIT_OK;
 * CTL_EXIT_USAGE when an extra claim repeats one already set or libjwt refuses the key;
 * CTL_EXIT_REFUSED when out of memory.
 */
int ctl_token_jwt_sign(const ctl_token_claims_t *claims, sc_jws_alg_t alg, const char *kid, const unsigned char *key, size_t len,
                       char **out, ctl_err_t *err);

#endif
