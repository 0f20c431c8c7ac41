/*
 * jwt: verification of signed JWTs (RFC 7519, JWS compact serialization RFC 7515, algorithms
 * RFC 7518), following RFC 8725: an allowlist of algorithms per issuer, every key bound to one
 * algorithm, "alg" compared case-sensitively, "none" and "crit" refused, "iss" and "aud" checked,
 * "kid" treated as untrusted input. Claims are read only after the signature verifies.
 *
 * Keys are parsed once at load (jwks.h, jwt_issuers.h); a verification is a few small JSON
 * parses and one EVP_DigestVerify or HMAC, with no I/O: safe on the event loop. Issuers are
 * immutable once loaded and shared by all threads.
 */
#ifndef SC_JWT_H
#define SC_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "jwks.h"

#define SC_JWT_MAX_TOKEN_LEN 8192
#define SC_JWT_MAX_SCOPES_CLAIMS 8 /* claims an issuer may read scopes from */

struct sc_jwks_remote;
struct sc_jwks_source;

/* Which tokens of an issuer are accepted, by their "token_use" claim (Cognito's). */
typedef enum sc_jwt_token_use { SC_JWT_TOKEN_USE_ANY = 0, SC_JWT_TOKEN_USE_ID, SC_JWT_TOKEN_USE_ACCESS } sc_jwt_token_use_t;

/* An issuer lists at most this many audiences (claims keep the matches as a bit set). */
#define SC_JWT_MAX_AUDIENCES 64

typedef struct sc_jwt_issuer {
    char *issuer;     /* the exact "iss" */
    char **audiences; /* ID tokens: "aud" must name one of them */
    size_t num_audiences;
    char **client_ids; /* access tokens: "client_id" must be one of them */
    size_t num_client_ids;
    sc_jwt_token_use_t token_use;
    char **scopes_claims; /* NULL: "scope" (a string), else "scp"; otherwise the union of these claims */
    size_t num_scopes_claims;
    struct sc_jwks_remote *remote; /* keys fetched from the provider (jwks_remote.h); NULL when none */
    /* Where the fetched keys are kept: attached by the server (jwks_refresher.c) before the
     * configuration serves a request; NULL in --check, in tests, and without `remote`. */
    struct sc_jwks_source *source;
    char *tenant_claim;  /* the claim that names the tenant, literally ("tenant_id", "custom:tenant_id") */
    int64_t leeway_s;    /* clock skew tolerated on exp, nbf and iat */
    unsigned algorithms; /* SC_JWS_ALG_BIT() set: the allowlist */
    sc_jwk_t *keys;
    size_t num_keys;
    char *jwks_file;        /* resolved path, NULL when not configured */
    char *hmac_secret_file; /* resolved path, NULL when not configured */
    unsigned line;          /* of the issuer's entry in the host file */
} sc_jwt_issuer_t;

typedef struct sc_jwt_issuers {
    sc_jwt_issuer_t *items;
    size_t count;
} sc_jwt_issuers_t;

/*
 * What a valid token says. Every pointer but `issuer` is a heap copy owned by the structure
 * (sc_jwt_claims_free); `issuer` points into the issuers the token was verified with and lives
 * as long as they do.
 */
typedef struct sc_jwt_claims {
    const sc_jwt_issuer_t *issuer;
    char *subject; /* "sub", NULL when absent */
    char *tenant;  /* the issuer's tenant_claim, NULL when absent */
    char **scopes; /* from the issuer's scopes_claims (default "scope", else "scp"); one allocation */
    size_t num_scopes;
    int64_t exp;        /* rounded down */
    uint64_t audiences; /* bit j: the token's "aud" names issuer->audiences[j] */
} sc_jwt_claims_t;

typedef enum sc_jwt_result {
    SC_JWT_OK = 0,
    SC_JWT_TOO_LARGE,        /* longer than SC_JWT_MAX_TOKEN_LEN */
    SC_JWT_MALFORMED,        /* not three strict base64url segments of JSON objects, or a claim of the wrong type */
    SC_JWT_BAD_TYPE,         /* "typ" is not JWT, at+jwt or application/at+jwt */
    SC_JWT_UNSUPPORTED_CRIT, /* "crit" is present: no extension is understood */
    SC_JWT_ALG_NOT_ALLOWED,  /* "none", unknown, not in the allowlist, or not the algorithm of the key */
    SC_JWT_UNKNOWN_ISSUER,   /* "iss" names no configured issuer */
    SC_JWT_UNKNOWN_KEY,      /* no key with that "kid"; or no "kid" and not exactly one key for the algorithm */
    SC_JWT_BAD_SIGNATURE,
    SC_JWT_MISSING_CLAIM,      /* "iss" or "exp"; "aud" of an ID token, "client_id" of an access token */
    SC_JWT_EXPIRED,            /* now >= exp + leeway */
    SC_JWT_NOT_YET_VALID,      /* now + leeway < nbf, or now + leeway < iat */
    SC_JWT_AUDIENCE_MISMATCH,  /* "aud" names none of the issuer's audiences, or "client_id" none of its client_ids */
    SC_JWT_TOKEN_USE_MISMATCH, /* "token_use" is not the kind of token the issuer accepts */
    SC_JWT_INTERNAL_ERROR,     /* out of memory or an OpenSSL failure: not the token's fault */
    SC_JWT_RESULT_COUNT
} sc_jwt_result_t;

/**
 * Verifies a compact JWS (the bytes after "Bearer ", not NUL-terminated) against the issuers at
 * time `now` (seconds since the epoch). On SC_JWT_OK *out holds the claims (release with
 * sc_jwt_claims_free); on any other result *out is zeroed and needs no release. The token is
 * never logged or copied.
 *
 * Order of checks: size; three base64url segments; header JSON ("alg" case-sensitive and known,
 * "typ", no "crit"); payload JSON; "iss" chooses the issuer; "kid" chooses the key (without
 * "kid": the issuer's only key for "alg"); "alg" must be the key's algorithm and in the issuer's
 * allowlist; the signature; then the claims: exp (required), nbf, iat, token_use, then aud for an
 * ID token or client_id for an access token (see read_claims), sub, the tenant claim, scopes. Nothing read before the signature is
 * trusted, only used to choose.
 */
sc_jwt_result_t sc_jwt_verify(const sc_jwt_issuers_t *issuers, const char *token, size_t len, int64_t now, sc_jwt_claims_t *out);

/*
 * Keys besides the issuer's own (jwks_file, hmac_secret_file): the set last fetched from the
 * provider, as the calling worker sees it. `keys` returns them for an issuer, or NULL.
 */
typedef struct sc_jwt_keyring {
    const sc_jwk_t *(*keys)(void *data, const sc_jwt_issuer_t *issuer, size_t *count);
    void *data;
} sc_jwt_keyring_t;

/**
 * As sc_jwt_verify, also trying the keys of `fetched` (may be NULL) after the issuer's own. When
 * `issuer_out` is not NULL it receives the issuer that "iss" named, whatever the result (NULL
 * when none): an unknown "kid" for an issuer with fetched keys is a reason to refresh them.
 */
sc_jwt_result_t sc_jwt_verify_ex(const sc_jwt_issuers_t *issuers, const sc_jwt_keyring_t *fetched, const char *token, size_t len,
                                 int64_t now, sc_jwt_claims_t *out, const sc_jwt_issuer_t **issuer_out);

/**
 * A stable machine-readable code for a result ("bad_signature"), for logs and metrics.
 */
const char *sc_jwt_result_reason(sc_jwt_result_t result);

/**
 * The issuer whose "iss" is exactly these bytes, or NULL.
 */
const sc_jwt_issuer_t *sc_jwt_issuers_find(const sc_jwt_issuers_t *issuers, const char *iss, size_t len);

/**
 * Deep-copies claims into *dst (which is overwritten, not freed). Returns 0, or -1 when out of
 * memory (then *dst is zeroed).
 */
int sc_jwt_claims_copy(sc_jwt_claims_t *dst, const sc_jwt_claims_t *src);

/**
 * Releases what the claims hold and zeroes them; NULL and zeroed claims are fine.
 */
void sc_jwt_claims_free(sc_jwt_claims_t *claims);

#endif
