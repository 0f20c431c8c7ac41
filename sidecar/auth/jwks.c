#include "jwks.h"
#include "base64url.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 16384 /* verification cost grows with the square of the size: refuse silly keys */
#define RSA_MAX_E_BITS 64  /* what OpenSSL accepts for moduli over 3072 bits */
#define MAX_DIGEST 64

static const struct {
    const char *name;
    const char *digest;
    sc_jwk_type_t type;
    size_t size; /* digest bytes; for ES*, also the curve's coordinate size */
} algs[SC_JWS_ALG_COUNT] = {
    [SC_JWS_RS256] = {"RS256", "SHA256", SC_JWK_RSA, 32},  [SC_JWS_RS384] = {"RS384", "SHA384", SC_JWK_RSA, 48},
    [SC_JWS_RS512] = {"RS512", "SHA512", SC_JWK_RSA, 64},  [SC_JWS_PS256] = {"PS256", "SHA256", SC_JWK_RSA, 32},
    [SC_JWS_PS384] = {"PS384", "SHA384", SC_JWK_RSA, 48},  [SC_JWS_PS512] = {"PS512", "SHA512", SC_JWK_RSA, 64},
    [SC_JWS_ES256] = {"ES256", "SHA256", SC_JWK_EC, 32},   [SC_JWS_ES384] = {"ES384", "SHA384", SC_JWK_EC, 48},
    [SC_JWS_HS256] = {"HS256", "SHA256", SC_JWK_HMAC, 32}, [SC_JWS_HS384] = {"HS384", "SHA384", SC_JWK_HMAC, 48},
    [SC_JWS_HS512] = {"HS512", "SHA512", SC_JWK_HMAC, 64},
};

static const struct {
    const char *jwk_name;
    const char *group; /* OpenSSL's name */
    sc_jws_alg_t alg;
} curves[] = {
    {"P-256", "prime256v1", SC_JWS_ES256},
    {"P-384", "secp384r1", SC_JWS_ES384},
};

/* ---- algorithms ------------------------------------------------------------------------------- */

const char *sc_jwks_alg_name(sc_jws_alg_t alg)
{
    return alg > SC_JWS_ALG_INVALID && alg < SC_JWS_ALG_COUNT ? algs[alg].name : "invalid";
}

sc_jws_alg_t sc_jwks_alg_from_name(const char *name, size_t len)
{
    for (int a = SC_JWS_ALG_INVALID + 1; a != SC_JWS_ALG_COUNT; ++a)
        if (strlen(algs[a].name) == len && memcmp(algs[a].name, name, len) == 0)
            return (sc_jws_alg_t)a;
    return SC_JWS_ALG_INVALID;
}

const char *sc_jwks_algs_format(unsigned set, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int a = SC_JWS_ALG_INVALID + 1; a != SC_JWS_ALG_COUNT; ++a) {
        if ((set & SC_JWS_ALG_BIT(a)) == 0)
            continue;
        int n = snprintf(buf + used, size - used, "%s%s", used != 0 ? ", " : "", algs[a].name);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

/* ---- keys ------------------------------------------------------------------------------------- */

void sc_jwks_key_clear(sc_jwk_t *key)
{
    if (key == NULL)
        return;
    free(key->kid);
    EVP_PKEY_free(key->pkey);
    EVP_MD_free(key->md);
    EVP_MAC_free(key->mac);
    if (key->secret != NULL) {
        OPENSSL_cleanse(key->secret, key->secret_len);
        free(key->secret);
    }
    memset(key, 0, sizeof(*key));
}

void sc_jwks_free(sc_jwk_t *keys, size_t num_keys)
{
    for (size_t i = 0; i != num_keys; ++i)
        sc_jwks_key_clear(&keys[i]);
    free(keys);
}

/* Fetches the digest (and for HMAC the MAC) of the key's algorithm once, at load. */
static int fetch_algorithms(sc_jwk_t *key)
{
    if ((key->md = EVP_MD_fetch(NULL, algs[key->alg].digest, NULL)) == NULL)
        return -1;
    if (key->type == SC_JWK_HMAC && (key->mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
        return -1;
    return 0;
}

int sc_jwks_key_hmac_init(sc_jwk_t *key, const unsigned char *secret, size_t len, const char *kid, unsigned allowed, char *err,
                          size_t errsize)
{
    char names[128];
    unsigned hmac = allowed & SC_JWS_ALGS_HMAC;
    memset(key, 0, sizeof(*key));
    if (hmac == 0 || (hmac & (hmac - 1)) != 0) {
        snprintf(err, errsize, "a secret is bound to exactly one algorithm, and the issuer allows %s",
                 hmac == 0 ? "none of HS256, HS384, HS512" : sc_jwks_algs_format(hmac, names, sizeof(names)));
        return -1;
    }
    key->type = SC_JWK_HMAC;
    key->alg = (sc_jws_alg_t)__builtin_ctz(hmac);
    if (len < algs[key->alg].size) {
        snprintf(err, errsize, "the secret is %zu bytes; %s needs at least %zu", len, algs[key->alg].name, algs[key->alg].size);
        return -1;
    }
    key->sig_len = algs[key->alg].size;
    if ((kid != NULL && (key->kid = strdup(kid)) == NULL) || (key->secret = malloc(len)) == NULL)
        goto NoMemory;
    memcpy(key->secret, secret, len);
    key->secret_len = len;
    if (fetch_algorithms(key) != 0)
        goto NoMemory;
    return 0;
NoMemory:
    sc_jwks_key_clear(key);
    snprintf(err, errsize, "out of memory");
    ERR_clear_error();
    return -1;
}

/* ---- JWK parsing ------------------------------------------------------------------------------ */

/* A JWK being parsed: where it is, for messages. */
typedef struct jwk_ctx {
    const char *name;
    size_t index;
    const char *kid;
    char *err;
    size_t errsize;
} jwk_ctx_t;

__attribute__((format(printf, 2, 3))) static int jwk_error(jwk_ctx_t *c, const char *fmt, ...)
{
    char reason[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (c->kid != NULL)
        snprintf(c->err, c->errsize, "%s: keys[%zu] (kid \"%.80s\"): %s", c->name, c->index, c->kid, reason);
    else
        snprintf(c->err, c->errsize, "%s: keys[%zu]: %s", c->name, c->index, reason);
    ERR_clear_error();
    return -1;
}

/* An optional string member: 0 and *out (NULL when absent), or -1 when present but not a string. */
static int member_string(jwk_ctx_t *c, const json_t *jwk, const char *member, const char **out)
{
    const json_t *v = json_object_get(jwk, member);
    *out = NULL;
    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return jwk_error(c, "\"%s\" must be a string", member);
    *out = json_string_value(v);
    return 0;
}

/* A required base64url member, decoded into a heap buffer. */
static int member_bytes(jwk_ctx_t *c, const json_t *jwk, const char *member, unsigned char **out, size_t *len)
{
    const json_t *v = json_object_get(jwk, member);
    *out = NULL;
    if (v == NULL)
        return jwk_error(c, "\"%s\" is required", member);
    if (!json_is_string(v) || json_string_length(v) == 0)
        return jwk_error(c, "\"%s\" must be a non-empty base64url string", member);
    size_t size = json_string_length(v) / 4 * 3 + 3;
    if ((*out = malloc(size)) == NULL)
        return jwk_error(c, "out of memory");
    if (sc_base64url_decode(json_string_value(v), json_string_length(v), *out, size, len) != 0) {
        free(*out);
        *out = NULL;
        return jwk_error(c, "\"%s\" is not base64url (RFC 7515: no padding, - and _)", member);
    }
    return 0;
}

/* Builds a public EVP_PKEY of `type` ("RSA", "EC") from OpenSSL parameters. */
static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *pkey = NULL;
    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

static int parse_rsa(jwk_ctx_t *c, const json_t *jwk, sc_jwk_t *key)
{
    unsigned char *nbuf = NULL, *ebuf = NULL;
    size_t nlen, elen;
    BIGNUM *n = NULL, *e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    int rc = -1;

    if (member_bytes(c, jwk, "n", &nbuf, &nlen) != 0 || member_bytes(c, jwk, "e", &ebuf, &elen) != 0)
        goto Exit;
    if ((n = BN_bin2bn(nbuf, (int)nlen, NULL)) == NULL || (e = BN_bin2bn(ebuf, (int)elen, NULL)) == NULL) {
        jwk_error(c, "out of memory");
        goto Exit;
    }
    int bits = BN_num_bits(n);
    if (bits < RSA_MIN_BITS) {
        jwk_error(c, "RSA key of %d bits; at least %d are required", bits, RSA_MIN_BITS);
        goto Exit;
    }
    if (bits > RSA_MAX_BITS) {
        jwk_error(c, "RSA key of %d bits; at most %d are supported", bits, RSA_MAX_BITS);
        goto Exit;
    }
    if (!BN_is_odd(n) || !BN_is_odd(e) || BN_num_bits(e) < 2 || BN_num_bits(e) > RSA_MAX_E_BITS) {
        jwk_error(c, "not a valid RSA public key (n and e must be odd, 3 <= e < 2^%d)", RSA_MAX_E_BITS);
        goto Exit;
    }
    if ((bld = OSSL_PARAM_BLD_new()) == NULL || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 || (key->pkey = pkey_fromdata("RSA", bld)) == NULL) {
        jwk_error(c, "OpenSSL refused the RSA key");
        goto Exit;
    }
    key->sig_len = (size_t)EVP_PKEY_get_size(key->pkey);
    rc = 0;
Exit:
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    free(nbuf);
    free(ebuf);
    return rc;
}

static int parse_ec(jwk_ctx_t *c, const json_t *jwk, size_t curve, sc_jwk_t *key)
{
    unsigned char *x = NULL, *y = NULL, point[1 + 2 * 66];
    size_t xlen, ylen, size = algs[curves[curve].alg].size;
    OSSL_PARAM_BLD *bld = NULL;
    EVP_PKEY_CTX *check = NULL;
    int rc = -1;

    if (member_bytes(c, jwk, "x", &x, &xlen) != 0 || member_bytes(c, jwk, "y", &y, &ylen) != 0)
        goto Exit;
    if (xlen != size || ylen != size) {
        jwk_error(c, "\"x\" and \"y\" must be %zu bytes each for %s", size, curves[curve].jwk_name);
        goto Exit;
    }
    point[0] = 0x04; /* uncompressed */
    memcpy(point + 1, x, size);
    memcpy(point + 1 + size, y, size);
    if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curves[curve].group, 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * size) != 1 ||
        (key->pkey = pkey_fromdata("EC", bld)) == NULL || (check = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL)) == NULL ||
        EVP_PKEY_public_check(check) != 1) {
        jwk_error(c, "not a valid %s public key (the point is not on the curve)", curves[curve].jwk_name);
        goto Exit;
    }
    key->sig_len = 2 * size;
    rc = 0;
Exit:
    EVP_PKEY_CTX_free(check);
    OSSL_PARAM_BLD_free(bld);
    free(x);
    free(y);
    return rc;
}

/* Members that only a private key has: a JWKS holding one has leaked it. */
static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k", NULL};

/*
 * Binds a key to one algorithm: `suits` is the set the key's type (and curve) can serve; `desc`
 * names the type for messages ("RSA", "EC P-256").
 */
static int bind_alg(jwk_ctx_t *c, const json_t *jwk, const char *desc, unsigned suits, unsigned allowed, sc_jwk_t *key)
{
    char names[128], allowed_names[128];
    const char *alg;
    if (member_string(c, jwk, "alg", &alg) != 0)
        return -1;
    if (alg != NULL) {
        sc_jws_alg_t a = sc_jwks_alg_from_name(alg, strlen(alg));
        if (a == SC_JWS_ALG_INVALID)
            return jwk_error(c, "\"alg\": \"%.40s\" is not supported (%s)", alg,
                             sc_jwks_algs_format(~SC_JWS_ALGS_HMAC, names, sizeof(names)));
        if ((suits & SC_JWS_ALG_BIT(a)) == 0)
            return jwk_error(c, "\"alg\": %s does not suit this %s key (it suits %s)", alg, desc,
                             sc_jwks_algs_format(suits, names, sizeof(names)));
        if ((allowed & SC_JWS_ALG_BIT(a)) == 0)
            return jwk_error(c, "\"alg\": %s is not in the issuer's algorithms (%s)", alg,
                             sc_jwks_algs_format(allowed, allowed_names, sizeof(allowed_names)));
        key->alg = a;
        return 0;
    }
    unsigned candidates = suits & allowed;
    if (candidates == 0)
        return jwk_error(c, "none of the issuer's algorithms (%s) suits this %s key (it suits %s)",
                         sc_jwks_algs_format(allowed, allowed_names, sizeof(allowed_names)), desc,
                         sc_jwks_algs_format(suits, names, sizeof(names)));
    if ((candidates & (candidates - 1)) != 0)
        return jwk_error(c, "no \"alg\", and the issuer allows several algorithms for this %s key (%s): add \"alg\" to the JWK",
                         desc, sc_jwks_algs_format(candidates, names, sizeof(names)));
    key->alg = (sc_jws_alg_t)__builtin_ctz(candidates);
    return 0;
}

/* Returns 1 when the key was made, 0 when it is to be skipped, -1 on error. */
static int parse_jwk(jwk_ctx_t *c, const json_t *jwk, unsigned allowed, sc_jwk_t *key)
{
    const char *kty, *use, *kid;
    char desc[16];
    const json_t *ops;
    size_t curve = 0;
    unsigned suits;

    memset(key, 0, sizeof(*key));
    if (!json_is_object(jwk))
        return jwk_error(c, "must be a JSON object");
    if (member_string(c, jwk, "kid", &kid) != 0)
        return -1;
    if (kid != NULL && kid[0] == '\0')
        return jwk_error(c, "\"kid\" must not be empty");
    c->kid = kid;
    if (member_string(c, jwk, "kty", &kty) != 0 || member_string(c, jwk, "use", &use) != 0)
        return -1;
    if (kty == NULL)
        return jwk_error(c, "\"kty\" is required");
    if (strcmp(kty, "oct") == 0)
        return jwk_error(c, "symmetric keys do not belong in a JWKS: use hmac_secret_file");
    for (const char *const *m = private_members; *m != NULL; ++m)
        if (json_object_get(jwk, *m) != NULL)
            return jwk_error(c, "holds private key material (\"%s\"): publish public keys only", *m);
    if (use != NULL && strcmp(use, "sig") != 0)
        return 0;
    if ((ops = json_object_get(jwk, "key_ops")) != NULL) {
        if (!json_is_array(ops))
            return jwk_error(c, "\"key_ops\" must be an array");
        size_t i, n = json_array_size(ops);
        for (i = 0; i != n; ++i) {
            const json_t *op = json_array_get(ops, i);
            if (json_is_string(op) && strcmp(json_string_value(op), "verify") == 0)
                break;
        }
        if (i == n)
            return 0;
    }

    if (strcmp(kty, "RSA") == 0) {
        key->type = SC_JWK_RSA;
        suits = SC_JWS_ALGS_RSA;
        snprintf(desc, sizeof(desc), "RSA");
    } else if (strcmp(kty, "EC") == 0) {
        const char *crv;
        if (member_string(c, jwk, "crv", &crv) != 0)
            return -1;
        if (crv == NULL)
            return jwk_error(c, "\"crv\" is required");
        for (curve = 0; curve != sizeof(curves) / sizeof(curves[0]); ++curve)
            if (strcmp(crv, curves[curve].jwk_name) == 0)
                break;
        if (curve == sizeof(curves) / sizeof(curves[0]))
            return jwk_error(c, "curve \"%.40s\" is not supported (P-256, P-384)", crv);
        key->type = SC_JWK_EC;
        suits = SC_JWS_ALG_BIT(curves[curve].alg);
        snprintf(desc, sizeof(desc), "EC %s", curves[curve].jwk_name);
    } else {
        return 0; /* OKP (EdDSA) and others: not ours to use */
    }
    if (bind_alg(c, jwk, desc, suits, allowed, key) != 0)
        return -1;
    if ((key->type == SC_JWK_RSA ? parse_rsa(c, jwk, key) : parse_ec(c, jwk, curve, key)) != 0)
        goto Error;
    if ((kid != NULL && (key->kid = strdup(kid)) == NULL) || fetch_algorithms(key) != 0) {
        jwk_error(c, "out of memory");
        goto Error;
    }
    return 1;
Error:
    sc_jwks_key_clear(key);
    return -1;
}

int sc_jwks_parse(const char *json, size_t len, const char *name, unsigned allowed, sc_jwk_t **keys, size_t *num_keys, char *err,
                  size_t errsize)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr), *list;
    sc_jwk_t *grown = NULL;
    size_t added = 0;

    if (root == NULL) {
        /* jansson quotes the text "near" the error: cut it, the file may be a secret given by mistake */
        char *near = strstr(jerr.text, " near '");
        if (near != NULL)
            *near = '\0';
        snprintf(err, errsize, "%s:%d:%d: invalid JSON: %s", name, jerr.line, jerr.column, jerr.text);
        return -1;
    }
    if (!json_is_object(root) || !json_is_array(list = json_object_get(root, "keys"))) {
        snprintf(err, errsize, "%s: a JWK Set must be an object with a \"keys\" array", name);
        goto Error;
    }
    size_t count = json_array_size(list);
    if ((grown = realloc(*keys, (*num_keys + count + 1) * sizeof(**keys))) == NULL) {
        snprintf(err, errsize, "%s: out of memory", name);
        goto Error;
    }
    *keys = grown;
    for (size_t i = 0; i != count; ++i) {
        jwk_ctx_t c = {.name = name, .index = i, .err = err, .errsize = errsize};
        int rc = parse_jwk(&c, json_array_get(list, i), allowed, &grown[*num_keys + added]);
        if (rc < 0)
            goto Error;
        added += (size_t)rc;
    }
    *num_keys += added;
    json_decref(root);
    return (int)added;
Error:
    for (size_t i = 0; i != added; ++i)
        sc_jwks_key_clear(&(*keys)[*num_keys + i]);
    json_decref(root);
    return -1;
}

/* ---- verification ----------------------------------------------------------------------------- */

static int verify_hmac(const sc_jwk_t *key, const unsigned char *data, size_t len, const unsigned char *sig)
{
    unsigned char mac[MAX_DIGEST];
    size_t maclen = 0;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)algs[key->alg].digest, 0),
                           OSSL_PARAM_construct_end()};
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(key->mac);
    int rc = -1;

    if (ctx != NULL && EVP_MAC_init(ctx, key->secret, key->secret_len, params) == 1 && EVP_MAC_update(ctx, data, len) == 1 &&
        EVP_MAC_final(ctx, mac, &maclen, sizeof(mac)) == 1 && maclen == key->sig_len)
        rc = CRYPTO_memcmp(mac, sig, maclen) == 0;
    EVP_MAC_CTX_free(ctx);
    OPENSSL_cleanse(mac, sizeof(mac));
    return rc;
}

/* JOSE R||S (RFC 7518 section 3.4) to the DER SEQUENCE that OpenSSL verifies. */
static int ecdsa_to_der(const unsigned char *sig, size_t sig_len, unsigned char *der, size_t dersize, size_t *derlen)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)(sig_len / 2), NULL), *s = BN_bin2bn(sig + sig_len / 2, (int)(sig_len / 2), NULL);
    int n = -1;

    if (es != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(es, r, s) == 1) {
        r = s = NULL; /* owned by es now */
        if ((n = i2d_ECDSA_SIG(es, NULL)) > 0 && (size_t)n <= dersize) {
            unsigned char *p = der;
            n = i2d_ECDSA_SIG(es, &p);
        } else {
            n = -1;
        }
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    if (n <= 0)
        return -1;
    *derlen = (size_t)n;
    return 0;
}

static int verify_pkey(const sc_jwk_t *key, const unsigned char *data, size_t len, const unsigned char *sig, size_t sig_len)
{
    unsigned char der[2 * 66 + 16];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int rc = -1;

    if (md == NULL || EVP_DigestVerifyInit(md, &pctx, key->md, NULL, key->pkey) != 1)
        goto Exit;
    switch (key->alg) {
    case SC_JWS_PS256:
    case SC_JWS_PS384:
    case SC_JWS_PS512:
        /* MGF1 uses the signature digest by default; the salt must be exactly the digest's size */
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)
            goto Exit;
        break;
    case SC_JWS_ES256:
    case SC_JWS_ES384:
        if (ecdsa_to_der(sig, sig_len, der, sizeof(der), &sig_len) != 0)
            goto Exit;
        sig = der;
        break;
    default:
        break;
    }
    rc = EVP_DigestVerify(md, sig, sig_len, data, len) == 1;
Exit:
    EVP_MD_CTX_free(md);
    return rc;
}

int sc_jwks_key_verify(const sc_jwk_t *key, const unsigned char *data, size_t len, const unsigned char *sig, size_t sig_len)
{
    if (sig_len != key->sig_len)
        return 0;
    int rc = key->type == SC_JWK_HMAC ? verify_hmac(key, data, len, sig) : verify_pkey(key, data, len, sig, sig_len);
    ERR_clear_error(); /* a refused signature leaves errors that would confuse the next TLS call on this thread */
    return rc;
}
