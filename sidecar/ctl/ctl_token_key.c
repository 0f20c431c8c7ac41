#include "ctl_token_key.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "file_util.h"

#define RSA_MIN_BITS 2048 /* the sidecar refuses smaller RSA keys (jwks.h) */

/* Never ask for a pass phrase: an encrypted key is refused, not prompted for on the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return -1;
}

static int looks_like_pem(const unsigned char *p, size_t len)
{
    while (len != 0 && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        ++p, --len;
    return len >= 10 && memcmp(p, "-----BEGIN", 10) == 0;
}

/* The algorithms an EC key's curve allows: JWS binds each curve to one algorithm. */
static unsigned ec_algs(EVP_PKEY *pkey)
{
    char curve[64];
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof(curve), NULL) != 1)
        return 0;
    if (strcmp(curve, "prime256v1") == 0 || strcmp(curve, "P-256") == 0)
        return SC_JWS_ALG_BIT(SC_JWS_ES256);
    if (strcmp(curve, "secp384r1") == 0 || strcmp(curve, "P-384") == 0)
        return SC_JWS_ALG_BIT(SC_JWS_ES384);
    return 0;
}

static int inspect_pem(const char *path, ctl_token_key_t *key, ctl_err_t *err)
{
    BIO *bio = BIO_new_mem_buf(key->bytes, (int)key->len);
    if (bio == NULL)
        return ctl_fail(err, CTL_EXIT_REFUSED, "out of memory");
    key->pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    ERR_clear_error();
    if (key->pkey == NULL)
        return ctl_fail(err, CTL_EXIT_USAGE,
                        "--key-file %s: not an unencrypted PEM private key (a public key or certificate cannot sign)", path);
    switch (EVP_PKEY_get_base_id(key->pkey)) {
    case EVP_PKEY_RSA:
        if (EVP_PKEY_get_bits(key->pkey) < RSA_MIN_BITS)
            return ctl_fail(err, CTL_EXIT_USAGE, "--key-file %s: an RSA key of %d bits; the sidecar needs at least %d", path,
                            EVP_PKEY_get_bits(key->pkey), RSA_MIN_BITS);
        key->type = SC_JWK_RSA;
        key->suits = SC_JWS_ALGS_RSA;
        return CTL_EXIT_OK;
    case EVP_PKEY_EC:
        key->type = SC_JWK_EC;
        if ((key->suits = ec_algs(key->pkey)) == 0)
            return ctl_fail(err, CTL_EXIT_USAGE, "--key-file %s: an EC key on a curve other than P-256 and P-384", path);
        return CTL_EXIT_OK;
    default:
        return ctl_fail(err, CTL_EXIT_USAGE, "--key-file %s: neither an RSA nor an EC key (the sidecar verifies no other)", path);
    }
}

/* A secret serves every HMAC algorithm whose minimum length it meets (RFC 7518 3.2). */
static int inspect_secret(const char *path, ctl_token_key_t *key, ctl_err_t *err)
{
    /* one trailing newline (LF or CRLF), stripped exactly as the sidecar's hmac_secret_file */
    if (key->len != 0 && key->bytes[key->len - 1] == '\n' && --key->len != 0 && key->bytes[key->len - 1] == '\r')
        --key->len;
    key->type = SC_JWK_HMAC;
    key->suits = (key->len >= 32 ? SC_JWS_ALG_BIT(SC_JWS_HS256) : 0) | (key->len >= 48 ? SC_JWS_ALG_BIT(SC_JWS_HS384) : 0) |
                 (key->len >= 64 ? SC_JWS_ALG_BIT(SC_JWS_HS512) : 0);
    if (key->suits == 0)
        return ctl_fail(err, CTL_EXIT_USAGE,
                        "--key-file %s: neither a PEM private key nor an HMAC secret of at least 32 bytes (%zu bytes)", path,
                        key->len);
    return CTL_EXIT_OK;
}

int ctl_token_key_load(const char *path, ctl_token_key_t *out, ctl_err_t *err)
{
    char *text = NULL, reason[512];
    size_t len = 0;
    memset(out, 0, sizeof(*out));
    if (sc_file_util_read(path, CTL_TOKEN_KEY_MAX_BYTES, &text, &len, reason, sizeof(reason)) != 0)
        return ctl_fail(err, CTL_EXIT_USAGE, "--key-file %s", reason);
    out->bytes = (unsigned char *)text;
    out->len = len;
    int rc = looks_like_pem(out->bytes, out->len) ? inspect_pem(path, out, err) : inspect_secret(path, out, err);
    if (rc != CTL_EXIT_OK)
        ctl_token_key_clear(out);
    return rc;
}

/* "RS256, RS384" for messages. */
static const char *names(unsigned algs, char *buf, size_t size)
{
    return algs == 0 ? "none" : sc_jwks_algs_format(algs, buf, size);
}

/* The algorithm a key signs with when nothing says otherwise. */
static sc_jws_alg_t natural_alg(const ctl_token_key_t *key)
{
    switch (key->type) {
    case SC_JWK_RSA:
        return SC_JWS_RS256;
    case SC_JWK_HMAC:
        return SC_JWS_HS256;
    default:
        return (key->suits & SC_JWS_ALG_BIT(SC_JWS_ES384)) != 0 ? SC_JWS_ES384 : SC_JWS_ES256;
    }
}

static int check_requested(const ctl_token_key_t *key, sc_jws_alg_t alg, unsigned allowed, unsigned signable, ctl_err_t *err)
{
    char a[128], b[128];
    const char *name = sc_jwks_alg_name(alg);
    if ((key->suits & SC_JWS_ALG_BIT(alg)) == 0)
        return ctl_fail(err, CTL_EXIT_USAGE, "--alg %s does not suit the key file (it can sign %s)", name,
                        names(key->suits & signable, a, sizeof(a)));
    if ((signable & SC_JWS_ALG_BIT(alg)) == 0)
        return ctl_fail(err, CTL_EXIT_USAGE, "--alg %s: libjwt cannot sign it (it signs %s)", name, names(signable, a, sizeof(a)));
    if ((allowed & SC_JWS_ALG_BIT(alg)) == 0)
        return ctl_fail(err, CTL_EXIT_USAGE, "--alg %s: the issuer allows only %s", name, names(allowed, b, sizeof(b)));
    return CTL_EXIT_OK;
}

int ctl_token_key_choose_alg(const ctl_token_key_t *key, sc_jws_alg_t requested, unsigned allowed, unsigned signable,
                             sc_jws_alg_t *out, ctl_err_t *err)
{
    char a[128], b[128];
    if (requested != SC_JWS_ALG_INVALID) {
        *out = requested;
        return check_requested(key, requested, allowed, signable, err);
    }
    unsigned candidates = key->suits & signable & allowed;
    if ((candidates & SC_JWS_ALG_BIT(natural_alg(key))) != 0) {
        *out = natural_alg(key);
        return CTL_EXIT_OK;
    }
    for (int alg = SC_JWS_ALG_INVALID + 1; alg != SC_JWS_ALG_COUNT; ++alg)
        if (candidates == SC_JWS_ALG_BIT(alg)) {
            *out = (sc_jws_alg_t)alg;
            return CTL_EXIT_OK;
        }
    if (candidates != 0)
        return ctl_fail(err, CTL_EXIT_USAGE, "give --alg: the key file and the issuer allow %s", names(candidates, a, sizeof(a)));
    return ctl_fail(err, CTL_EXIT_USAGE, "the issuer allows %s; the key file can sign %s", names(allowed, a, sizeof(a)),
                    names(key->suits & signable, b, sizeof(b)));
}

const sc_jwk_t *ctl_token_key_match(const ctl_token_key_t *key, sc_jws_alg_t alg, const sc_jwk_t *keys, size_t num_keys)
{
    for (size_t i = 0; i != num_keys; ++i) {
        const sc_jwk_t *k = &keys[i];
        if (alg != SC_JWS_ALG_INVALID && k->alg != alg)
            continue;
        if (k->type == SC_JWK_HMAC && key->type == SC_JWK_HMAC && k->secret_len == key->len &&
            CRYPTO_memcmp(k->secret, key->bytes, key->len) == 0)
            return k;
        /* compares the public halves: a private key matches its published public key */
        if (k->type != SC_JWK_HMAC && key->pkey != NULL && EVP_PKEY_eq(k->pkey, key->pkey) == 1)
            return k;
    }
    ERR_clear_error();
    return NULL;
}

void ctl_token_key_clear(ctl_token_key_t *key)
{
    if (key->bytes != NULL) {
        OPENSSL_cleanse(key->bytes, key->len);
        free(key->bytes);
    }
    EVP_PKEY_free(key->pkey);
    memset(key, 0, sizeof(*key));
}
