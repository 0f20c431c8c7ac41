/*
 * jwks: JWT signing keys, turned once at load into OpenSSL objects so that verifying a token
 * costs one EVP_DigestVerify (or one HMAC) and nothing else.
 *
 * Every key is bound to exactly one JWS algorithm (RFC 8725 section 3.1): a token is checked
 * against a key only when the token's "alg" equals the key's algorithm. This is what defeats
 * algorithm confusion, such as an HS256 token "signed" with an RSA public key used as the HMAC
 * secret. Supported: RS256/384/512 and PS256/384/512 (RSA >= 2048 bits), ES256 (P-256), ES384
 * (P-384), HS256/384/512. "none" is not an algorithm here and never will be.
 *
 * Keys are immutable after load and may be used by any number of threads at once.
 */
#ifndef SC_JWKS_H
#define SC_JWKS_H

#include <stddef.h>

#include <openssl/types.h>

typedef enum sc_jws_alg {
    SC_JWS_ALG_INVALID = 0, /* unknown, unsupported, or "none" */
    SC_JWS_RS256,
    SC_JWS_RS384,
    SC_JWS_RS512,
    SC_JWS_PS256,
    SC_JWS_PS384,
    SC_JWS_PS512,
    SC_JWS_ES256,
    SC_JWS_ES384,
    SC_JWS_HS256,
    SC_JWS_HS384,
    SC_JWS_HS512,
    SC_JWS_ALG_COUNT
} sc_jws_alg_t;

/* Sets of algorithms (an issuer's allowlist) are bit masks of SC_JWS_ALG_BIT(alg). */
#define SC_JWS_ALG_BIT(alg) (1u << (unsigned)(alg))
#define SC_JWS_ALGS_RSA                                                                                                            \
    (SC_JWS_ALG_BIT(SC_JWS_RS256) | SC_JWS_ALG_BIT(SC_JWS_RS384) | SC_JWS_ALG_BIT(SC_JWS_RS512) | SC_JWS_ALG_BIT(SC_JWS_PS256) |   \
     SC_JWS_ALG_BIT(SC_JWS_PS384) | SC_JWS_ALG_BIT(SC_JWS_PS512))
#define SC_JWS_ALGS_HMAC (SC_JWS_ALG_BIT(SC_JWS_HS256) | SC_JWS_ALG_BIT(SC_JWS_HS384) | SC_JWS_ALG_BIT(SC_JWS_HS512))

typedef enum sc_jwk_type { SC_JWK_RSA, SC_JWK_EC, SC_JWK_HMAC } sc_jwk_type_t;

typedef struct sc_jwk {
    char *kid; /* NULL when the key has none */
    sc_jws_alg_t alg;
    sc_jwk_type_t type;
    size_t sig_len;        /* the exact signature length: modulus bytes, 2 x coordinate bytes, or digest bytes */
    EVP_PKEY *pkey;        /* RSA and EC */
    EVP_MD *md;            /* the algorithm's digest, fetched once */
    EVP_MAC *mac;          /* HMAC only */
    unsigned char *secret; /* HMAC only; wiped before it is freed */
    size_t secret_len;
} sc_jwk_t;

/**
 * The JWS name of an algorithm ("RS256"), or "invalid".
 */
const char *sc_jwks_alg_name(sc_jws_alg_t alg);

/**
 * Looks up an algorithm by its JWS name, case-sensitively as RFC 7515 requires: "rs256" and
 * "none" (in any case) give SC_JWS_ALG_INVALID. `name` need not be NUL-terminated.
 */
sc_jws_alg_t sc_jwks_alg_from_name(const char *name, size_t len);

/**
 * Writes the names in an algorithm set, separated by ", ", into buf; returns buf.
 */
const char *sc_jwks_algs_format(unsigned algs, char *buf, size_t size);

/**
 * Parses a JWK Set (RFC 7517) and appends its signature keys to the heap array *keys (*num_keys
 * entries; both may start as NULL/0). `allowed` is the issuer's algorithm allowlist: each key is
 * bound to its "alg" member, which must be allowed and suit the key, or, without "alg", to the
 * one allowed algorithm that suits the key; several candidates are an error asking for "alg".
 * Keys whose "use" is not "sig", whose "key_ops" lacks "verify", or whose "kty" is neither RSA nor
 * EC (OKP, ...) are skipped. Refused: RSA keys under 2048 bits, EC curves other than P-256 and
 * P-384, points off the curve, private members ("d", ...), symmetric ("oct") keys.
 *
 * Returns the number of keys appended (possibly 0), or -1 with "name: keys[i] (kid "x"): reason"
 * in err; on error nothing is appended. Start-up and reload only.
 */
int sc_jwks_parse(const char *json, size_t len, const char *name, unsigned allowed, sc_jwk_t **keys, size_t *num_keys, char *err,
                  size_t errsize);

/**
 * Makes an HMAC key from a secret (copied; the caller wipes its own copy). The key is bound to
 * the one HMAC algorithm in `allowed` (several are an error: a secret serves one algorithm) and
 * the secret must be at least as long as that algorithm's digest (RFC 7518 section 3.2: 32, 48
 * or 64 bytes). `kid` may be NULL. Returns 0, or -1 with a reason in err.
 */
int sc_jwks_key_hmac_init(sc_jwk_t *key, const unsigned char *secret, size_t len, const char *kid, unsigned allowed, char *err,
                          size_t errsize);

/**
 * Releases what a key holds (the secret is wiped first) and zeroes it.
 */
void sc_jwks_key_clear(sc_jwk_t *key);

/**
 * Clears every key of the array and frees it.
 */
void sc_jwks_free(sc_jwk_t *keys, size_t num_keys);

/**
 * Checks a JWS signature over `data` (the ASCII "header.payload") with the key's own algorithm.
 * ECDSA signatures are JOSE R||S, RSA-PSS uses a salt as long as the digest. Returns 1 when the
 * signature is valid, 0 when it is not, -1 on an internal failure (out of memory). The OpenSSL
 * error queue of the calling thread is left empty.
 */
int sc_jwks_key_verify(const sc_jwk_t *key, const unsigned char *data, size_t len, const unsigned char *sig, size_t sig_len);

#endif
