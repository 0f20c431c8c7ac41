/*
 * ctl_token_key: the key `sidecarctl token sign` signs with, read from --key-file: a PEM private
 * key (RSA, EC P-256 or P-384) or an HMAC secret file in the format the sidecar reads
 * (hmac_secret_file: raw bytes, one trailing newline stripped). The file is inspected with
 * OpenSSL so that the algorithm can be chosen, or a wrong one refused, with a clear message
 * before libjwt sees the key; and so that the issuer's configured key it corresponds to (its kid)
 * can be found. The key's bytes are wiped when released and never printed.
 */
#ifndef SC_CTL_TOKEN_KEY_H
#define SC_CTL_TOKEN_KEY_H

#include <stddef.h>

#include <openssl/types.h>

#include "ctl_status.h"
#include "jwks.h"

#define CTL_TOKEN_KEY_MAX_BYTES (64 * 1024)

typedef struct ctl_token_key {
    sc_jwk_type_t type;   /* SC_JWK_RSA, SC_JWK_EC or SC_JWK_HMAC */
    unsigned suits;       /* SC_JWS_ALG_BIT() set: the algorithms this key can sign with */
    EVP_PKEY *pkey;       /* RSA and EC: the private key, for matching against configured keys */
    unsigned char *bytes; /* what libjwt gets: the PEM text, or the secret */
    size_t len;
} ctl_token_key_t;

/**
 * Reads and inspects the key file. A file that starts like PEM must hold an unencrypted RSA or EC
 * (P-256, P-384) private key; anything else is an HMAC secret. CTL_EXIT_OK, or CTL_EXIT_USAGE
 * with the reason in err (the key's content is never quoted).
 */
int ctl_token_key_load(const char *path, ctl_token_key_t *out, ctl_err_t *err);

/**
 * The algorithm to sign with. `requested` (SC_JWS_ALG_INVALID: none) must suit the key and be in
 * `allowed`; without it, the one algorithm of `allowed` that suits the key and libjwt can sign,
 * else the key's natural choice (RS256, ES256/ES384, HS256) if allowed. `signable` is the set
 * libjwt can produce. CTL_EXIT_OK or CTL_EXIT_USAGE.
 */
int ctl_token_key_choose_alg(const ctl_token_key_t *key, sc_jws_alg_t requested, unsigned allowed, unsigned signable,
                             sc_jws_alg_t *out, ctl_err_t *err);

/**
 * The configured key (of `keys`) that this key corresponds to, bound to `alg` (SC_JWS_ALG_INVALID:
 * to any algorithm): same public key, or the same secret; NULL when none does.
 */
const sc_jwk_t *ctl_token_key_match(const ctl_token_key_t *key, sc_jws_alg_t alg, const sc_jwk_t *keys, size_t num_keys);

/**
 * Wipes and releases the key; a zeroed key is fine.
 */
void ctl_token_key_clear(ctl_token_key_t *key);

#endif
