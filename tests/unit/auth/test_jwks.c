/* JWK Sets to keys: algorithm names, the binding of keys to algorithms, what is skipped
 * and what is refused, and signature checks against a known answer (RFC 7515 A.1). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base64url.h"
#include "jwks.h"

#define FIXTURES TEST_DATA_DIR "/../../fixtures/jwt"
#define ALL_ASYMMETRIC (~SC_JWS_ALGS_HMAC)

/* ---- algorithm names ---------------------------------------------------------------------- */

static void test_algorithm_names(void **state)
{
    (void)state;
    assert_int_equal(sc_jwks_alg_from_name("RS256", 5), SC_JWS_RS256);
    assert_int_equal(sc_jwks_alg_from_name("PS512", 5), SC_JWS_PS512);
    assert_int_equal(sc_jwks_alg_from_name("ES384", 5), SC_JWS_ES384);
    assert_int_equal(sc_jwks_alg_from_name("HS512", 5), SC_JWS_HS512);
    assert_int_equal(sc_jwks_alg_from_name("RS256x", 5), SC_JWS_RS256); /* length-delimited */
    assert_int_equal(sc_jwks_alg_from_name("RS256", 4), SC_JWS_ALG_INVALID);
    assert_int_equal(sc_jwks_alg_from_name("rs256", 5), SC_JWS_ALG_INVALID);
    assert_int_equal(sc_jwks_alg_from_name("none", 4), SC_JWS_ALG_INVALID);
    assert_int_equal(sc_jwks_alg_from_name("None", 4), SC_JWS_ALG_INVALID);
    assert_int_equal(sc_jwks_alg_from_name("ES512", 5), SC_JWS_ALG_INVALID);
    assert_int_equal(sc_jwks_alg_from_name("EdDSA", 5), SC_JWS_ALG_INVALID);
    assert_int_equal(sc_jwks_alg_from_name("", 0), SC_JWS_ALG_INVALID);
    assert_string_equal(sc_jwks_alg_name(SC_JWS_PS384), "PS384");
    assert_string_equal(sc_jwks_alg_name(SC_JWS_ALG_INVALID), "invalid");
    assert_string_equal(sc_jwks_alg_name(SC_JWS_ALG_COUNT), "invalid");
    char buf[128];
    assert_string_equal(sc_jwks_algs_format(SC_JWS_ALGS_HMAC, buf, sizeof(buf)), "HS256, HS384, HS512");
    assert_string_equal(sc_jwks_algs_format(0, buf, sizeof(buf)), "");
}

/* ---- JWK Sets --------------------------------------------------------------------------------- */

typedef struct fixture {
    json_t *rsa; /* the rs256 public JWK from jwks.json */
    json_t *ec;  /* the P-256 public JWK, without "alg" */
} fixture_t;

static int setup(void **state)
{
    static fixture_t f;
    json_error_t jerr;
    json_t *jwks = json_load_file(FIXTURES "/jwks.json", 0, &jerr);
    if (jwks == NULL) {
        print_error("jwks.json: %s\n", jerr.text);
        return -1;
    }
    json_t *keys = json_object_get(jwks, "keys");
    for (size_t i = 0; i != json_array_size(keys); ++i) {
        const char *kid = json_string_value(json_object_get(json_array_get(keys, i), "kid"));
        if (strcmp(kid, "rsa-rs256") == 0)
            f.rsa = json_deep_copy(json_array_get(keys, i));
        else if (strcmp(kid, "ec-es256") == 0)
            f.ec = json_deep_copy(json_array_get(keys, i));
    }
    json_decref(jwks);
    if (f.rsa == NULL || f.ec == NULL)
        return -1;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    json_decref(f->rsa);
    json_decref(f->ec);
    return 0;
}

/* A copy of `base` with `changes` merged in ("null" members are removed). */
static json_t *variant(const json_t *base, const char *changes)
{
    json_t *jwk = json_deep_copy(base), *delta = json_loads(changes, 0, NULL);
    const char *name;
    json_t *value;
    assert_non_null(delta);
    json_object_foreach(delta, name, value)
    {
        if (json_is_null(value))
            json_object_del(jwk, name);
        else
            json_object_set(jwk, name, value);
    }
    json_decref(delta);
    return jwk;
}

/* Parses {"keys": [jwk]} (taking the reference) and returns what sc_jwks_parse returned. */
static int parse_one(json_t *jwk, unsigned allowed, sc_jwk_t **keys, size_t *num_keys, char *err, size_t errsize)
{
    json_t *set = json_pack("{s:[o]}", "keys", jwk);
    char *text = json_dumps(set, 0);
    int rc = sc_jwks_parse(text, strlen(text), "set.json", allowed, keys, num_keys, err, errsize);
    free(text);
    json_decref(set);
    return rc;
}

static void test_valid_keys(void **state)
{
    fixture_t *f = *state;
    char err[512] = "";
    sc_jwk_t *keys = NULL;
    size_t n = 0;

    assert_int_equal(parse_one(json_incref(f->rsa), ALL_ASYMMETRIC, &keys, &n, err, sizeof(err)), 1);
    assert_int_equal(n, 1);
    assert_string_equal(keys[0].kid, "rsa-rs256");
    assert_int_equal(keys[0].alg, SC_JWS_RS256);
    assert_int_equal(keys[0].type, SC_JWK_RSA);
    assert_int_equal(keys[0].sig_len, 256);
    /* appended: the EC key, bound to ES256 by its curve */
    assert_int_equal(parse_one(json_incref(f->ec), ALL_ASYMMETRIC, &keys, &n, err, sizeof(err)), 1);
    assert_int_equal(n, 2);
    assert_string_equal(keys[0].kid, "rsa-rs256");
    assert_int_equal(keys[1].alg, SC_JWS_ES256);
    assert_int_equal(keys[1].sig_len, 64);
    /* no kid is fine */
    assert_int_equal(parse_one(variant(f->rsa, "{\"kid\": null}"), ALL_ASYMMETRIC, &keys, &n, err, sizeof(err)), 1);
    assert_null(keys[2].kid);
    /* key_ops with "verify" */
    assert_int_equal(
        parse_one(variant(f->rsa, "{\"key_ops\": [\"verify\"], \"alg\": \"PS256\"}"), ALL_ASYMMETRIC, &keys, &n, err, sizeof(err)),
        1);
    assert_int_equal(keys[3].alg, SC_JWS_PS256);
    /* a failure appends nothing */
    assert_int_equal(parse_one(variant(f->rsa, "{\"alg\": \"none\"}"), ALL_ASYMMETRIC, &keys, &n, err, sizeof(err)), -1);
    assert_int_equal(n, 4);
    sc_jwks_free(keys, n);
}

static void test_skipped_keys(void **state)
{
    fixture_t *f = *state;
    char err[512] = "";
    sc_jwk_t *keys = NULL;
    size_t n = 0;
    static const char *const skipped[] = {
        "{\"use\": \"enc\"}",
        "{\"key_ops\": [\"encrypt\", \"wrapKey\"]}",
        "{\"key_ops\": []}",
        "{\"kty\": \"OKP\", \"crv\": \"Ed25519\", \"alg\": \"EdDSA\"}",
    };
    for (size_t i = 0; i != sizeof(skipped) / sizeof(skipped[0]); ++i) {
        if (parse_one(variant(f->rsa, skipped[i]), ALL_ASYMMETRIC, &keys, &n, err, sizeof(err)) != 0)
            fail_msg("%s: not skipped: %s", skipped[i], err);
    }
    assert_int_equal(n, 0);
    assert_int_equal(sc_jwks_parse("{\"keys\": []}", 12, "empty.json", ALL_ASYMMETRIC, &keys, &n, err, sizeof(err)), 0);
    free(keys);
}

static void test_refused_keys(void **state)
{
    fixture_t *f = *state;
    static const struct {
        const char *name;
        int ec;             /* based on the EC key, else the RSA one */
        const char *change; /* merged into the JWK */
        unsigned allowed;
        const char *expected;
    } cases[] = {
        {"private RSA", 0, "{\"d\": \"AQAB\"}", ALL_ASYMMETRIC,
         "set.json: keys[0] (kid \"rsa-rs256\"): holds private key material (\"d\")"},
        {"private EC", 1, "{\"d\": \"AQAB\"}", ALL_ASYMMETRIC, "keys[0] (kid \"ec-es256\"): holds private key material"},
        {"oct", 0, "{\"kty\": \"oct\", \"k\": \"c2VjcmV0\"}", ALL_ASYMMETRIC,
         "symmetric keys do not belong in a JWKS: use hmac_secret_file"},
        {"no kty", 0, "{\"kty\": null}", ALL_ASYMMETRIC, "\"kty\" is required"},
        {"kty not a string", 0, "{\"kty\": 1}", ALL_ASYMMETRIC, "\"kty\" must be a string"},
        {"empty kid", 0, "{\"kid\": \"\"}", ALL_ASYMMETRIC, "set.json: keys[0]: \"kid\" must not be empty"},
        {"kid not a string", 0, "{\"kid\": 7}", ALL_ASYMMETRIC, "set.json: keys[0]: \"kid\" must be a string"},
        {"key_ops not an array", 0, "{\"key_ops\": \"verify\"}", ALL_ASYMMETRIC, "\"key_ops\" must be an array"},
        {"alg none", 0, "{\"alg\": \"none\"}", ALL_ASYMMETRIC, "\"alg\": \"none\" is not supported"},
        {"alg lower case", 0, "{\"alg\": \"rs256\"}", ALL_ASYMMETRIC, "\"alg\": \"rs256\" is not supported"},
        {"HS256 on an RSA key", 0, "{\"alg\": \"HS256\"}", ~0u, "\"alg\": HS256 does not suit this RSA key (it suits RS256, RS384"},
        {"ES256 on an RSA key", 0, "{\"alg\": \"ES256\"}", ALL_ASYMMETRIC, "\"alg\": ES256 does not suit this RSA key"},
        {"RS256 on an EC key", 1, "{\"alg\": \"RS256\"}", ALL_ASYMMETRIC,
         "\"alg\": RS256 does not suit this EC P-256 key (it suits ES256)"},
        {"alg not allowed", 0, "{}", SC_JWS_ALG_BIT(SC_JWS_PS256), "\"alg\": RS256 is not in the issuer's algorithms (PS256)"},
        {"ambiguous", 0, "{\"alg\": null}", SC_JWS_ALG_BIT(SC_JWS_RS256) | SC_JWS_ALG_BIT(SC_JWS_RS512),
         "no \"alg\", and the issuer allows several algorithms for this RSA key (RS256, RS512): add \"alg\" to the JWK"},
        {"no n", 0, "{\"n\": null}", ALL_ASYMMETRIC, "\"n\" is required"},
        {"n not base64url", 0, "{\"n\": \"AQAB==\"}", ALL_ASYMMETRIC, "\"n\" is not base64url"},
        {"n empty", 0, "{\"n\": \"\"}", ALL_ASYMMETRIC, "\"n\" must be a non-empty base64url string"},
        {"e even", 0, "{\"e\": \"AQAC\"}", ALL_ASYMMETRIC, "not a valid RSA public key"},
        {"e one", 0, "{\"e\": \"AQ\"}", ALL_ASYMMETRIC, "not a valid RSA public key"},
        {"n small", 0, "{\"n\": \"AQAB\"}", ALL_ASYMMETRIC, "RSA key of 17 bits; at least 2048 are required"},
        {"no crv", 1, "{\"crv\": null}", ALL_ASYMMETRIC, "\"crv\" is required"},
        {"P-521", 1, "{\"crv\": \"P-521\"}", ALL_ASYMMETRIC, "curve \"P-521\" is not supported (P-256, P-384)"},
        {"secp256k1", 1, "{\"crv\": \"secp256k1\"}", ALL_ASYMMETRIC, "curve \"secp256k1\" is not supported"},
        {"P-256 key as P-384", 1, "{\"crv\": \"P-384\"}", ALL_ASYMMETRIC, "\"x\" and \"y\" must be 48 bytes each for P-384"},
        {"short x", 1, "{\"x\": \"AQAB\"}", ALL_ASYMMETRIC, "\"x\" and \"y\" must be 32 bytes each for P-256"},
        {"off the curve", 1, "{\"y\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"}", ALL_ASYMMETRIC,
         "not a valid P-256 public key (the point is not on the curve)"},
        {"P-256 not allowed", 1, "{}", SC_JWS_ALG_BIT(SC_JWS_ES384),
         "none of the issuer's algorithms (ES384) suits this EC P-256 key"},
    };
    int failures = 0;
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        char err[512] = "";
        sc_jwk_t *keys = NULL;
        size_t n = 0;
        int rc = parse_one(variant(cases[i].ec ? f->ec : f->rsa, cases[i].change), cases[i].allowed, &keys, &n, err, sizeof(err));
        if (rc != -1 || strstr(err, cases[i].expected) == NULL) {
            print_error("case \"%s\": expected error containing\n  %s\ngot (%d)\n  %s\n", cases[i].name, cases[i].expected, rc,
                        err);
            ++failures;
        }
        assert_int_equal(n, 0);
        sc_jwks_free(keys, n);
    }
    assert_int_equal(failures, 0);
}

static void test_refused_sets(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *expected;
    } cases[] = {
        {"", "set.json:1:0: invalid JSON"},
        {"{\"keys\": [}", "set.json:1:11: invalid JSON: unexpected token"},
        {"[]", "set.json: a JWK Set must be an object with a \"keys\" array"},
        {"{\"keys\": {}}", "set.json: a JWK Set must be an object with a \"keys\" array"},
        {"{\"keys\": [], \"keys\": []}", "invalid JSON: duplicate object key"},
        {"{\"keys\": [1]}", "set.json: keys[0]: must be a JSON object"},
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        char err[512] = "";
        sc_jwk_t *keys = NULL;
        size_t n = 0;
        int rc = sc_jwks_parse(cases[i].json, strlen(cases[i].json), "set.json", ALL_ASYMMETRIC, &keys, &n, err, sizeof(err));
        if (rc != -1 || strstr(err, cases[i].expected) == NULL)
            fail_msg("%s: expected error containing\n  %s\ngot (%d)\n  %s", cases[i].json, cases[i].expected, rc, err);
        assert_int_equal(n, 0);
        free(keys);
    }
}

/* ---- HMAC keys and signatures ----------------------------------------------------------------- */

static void test_hmac_keys(void **state)
{
    (void)state;
    unsigned char secret[64];
    char err[256] = "";
    sc_jwk_t key;
    memset(secret, 's', sizeof(secret));

    assert_int_equal(sc_jwks_key_hmac_init(&key, secret, 32, "hs", SC_JWS_ALG_BIT(SC_JWS_HS256) | SC_JWS_ALG_BIT(SC_JWS_RS256), err,
                                           sizeof(err)),
                     0);
    assert_int_equal(key.alg, SC_JWS_HS256);
    assert_int_equal(key.sig_len, 32);
    assert_string_equal(key.kid, "hs");
    assert_ptr_not_equal(key.secret, secret); /* copied */
    sc_jwks_key_clear(&key);
    assert_null(key.secret);

    assert_int_equal(sc_jwks_key_hmac_init(&key, secret, 47, NULL, SC_JWS_ALG_BIT(SC_JWS_HS384), err, sizeof(err)), -1);
    assert_string_equal(err, "the secret is 47 bytes; HS384 needs at least 48");
    assert_int_equal(sc_jwks_key_hmac_init(&key, secret, 64, NULL, SC_JWS_ALG_BIT(SC_JWS_HS512), err, sizeof(err)), 0);
    assert_null(key.kid);
    assert_int_equal(key.sig_len, 64);
    sc_jwks_key_clear(&key);
    assert_int_equal(sc_jwks_key_hmac_init(&key, secret, 64, NULL, SC_JWS_ALGS_HMAC, err, sizeof(err)), -1);
    assert_string_equal(err, "a secret is bound to exactly one algorithm, and the issuer allows HS256, HS384, HS512");
    assert_int_equal(sc_jwks_key_hmac_init(&key, secret, 64, NULL, SC_JWS_ALGS_RSA, err, sizeof(err)), -1);
    assert_null(key.secret);
}

/* RFC 7515 appendix A.1: an HS256 JWS, verified independently of the jose-made fixtures. */
static void test_rfc7515_hs256(void **state)
{
    (void)state;
    static const char k[] = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
    static const char input[] = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
                                "."
                                "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    static const char sig64[] = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    unsigned char secret[64], sig[32];
    size_t secret_len, sig_len;
    char err[256];
    sc_jwk_t key;

    assert_int_equal(sc_base64url_decode(k, strlen(k), secret, sizeof(secret), &secret_len), 0);
    assert_int_equal(sc_base64url_decode(sig64, strlen(sig64), sig, sizeof(sig), &sig_len), 0);
    assert_int_equal(sc_jwks_key_hmac_init(&key, secret, secret_len, NULL, SC_JWS_ALG_BIT(SC_JWS_HS256), err, sizeof(err)), 0);
    assert_int_equal(sc_jwks_key_verify(&key, (const unsigned char *)input, strlen(input), sig, sig_len), 1);
    sig[31] ^= 1;
    assert_int_equal(sc_jwks_key_verify(&key, (const unsigned char *)input, strlen(input), sig, sig_len), 0);
    sig[31] ^= 1;
    assert_int_equal(sc_jwks_key_verify(&key, (const unsigned char *)input, strlen(input), sig, sig_len - 1), 0);
    assert_int_equal(sc_jwks_key_verify(&key, (const unsigned char *)input, strlen(input) - 1, sig, sig_len), 0);
    sc_jwks_key_clear(&key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_algorithm_names), cmocka_unit_test(test_valid_keys),   cmocka_unit_test(test_skipped_keys),
        cmocka_unit_test(test_refused_keys),    cmocka_unit_test(test_refused_sets), cmocka_unit_test(test_hmac_keys),
        cmocka_unit_test(test_rfc7515_hs256),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
