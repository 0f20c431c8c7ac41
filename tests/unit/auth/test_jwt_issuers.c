/* The jwt_issuers configuration: valid issuers with their keys bound to algorithms, and a table
 * of invalid ones with the file, line and key each error must name. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "jwt_issuers.h"

#define FIXTURES TEST_DATA_DIR "/../../fixtures/jwt"
#define HOST_FILE FIXTURES "/host.yaml"

static int load(const char *yaml, sc_jwt_issuers_t *out, char *err, size_t errsize)
{
    return sc_jwt_issuers_load_string(yaml, strlen(yaml), HOST_FILE, out, err, errsize);
}

static const sc_jwk_t *find_kid(const sc_jwt_issuer_t *issuer, const char *kid)
{
    for (size_t i = 0; i != issuer->num_keys; ++i)
        if (issuer->keys[i].kid != NULL && strcmp(issuer->keys[i].kid, kid) == 0)
            return &issuer->keys[i];
    return NULL;
}

static void test_load_file(void **state)
{
    (void)state;
    char err[1024] = "";
    sc_jwt_issuers_t is;
    assert_int_equal(sc_jwt_issuers_load_file(FIXTURES "/issuers.yaml", &is, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    assert_int_equal(is.count, 2);

    const sc_jwt_issuer_t *idp = &is.items[0];
    assert_string_equal(idp->issuer, "https://idp.example.test");
    assert_int_equal(idp->line, 3);
    assert_int_equal(idp->num_audiences, 2);
    assert_string_equal(idp->audiences[0], "api://sidecar");
    assert_string_equal(idp->audiences[1], "langchain");
    assert_string_equal(idp->tenant_claim, "custom:tenant_id");
    assert_int_equal(idp->leeway_s, 30); /* default */
    assert_int_equal(idp->algorithms, SC_JWS_ALGS_RSA | SC_JWS_ALG_BIT(SC_JWS_ES256) | SC_JWS_ALG_BIT(SC_JWS_ES384));
    assert_string_equal(idp->jwks_file, FIXTURES "/jwks.json");
    assert_null(idp->hmac_secret_file);
    /* 11 JWKs: the encryption key and the Ed25519 key are skipped */
    assert_int_equal(idp->num_keys, 9);
    static const struct {
        const char *kid;
        sc_jws_alg_t alg;
        sc_jwk_type_t type;
        size_t sig_len;
    } keys[] = {
        {"rsa-rs256", SC_JWS_RS256, SC_JWK_RSA, 256}, {"rsa-rs256-next", SC_JWS_RS256, SC_JWK_RSA, 256},
        {"rsa-rs384", SC_JWS_RS384, SC_JWK_RSA, 384}, {"rsa-rs512", SC_JWS_RS512, SC_JWK_RSA, 512},
        {"rsa-ps256", SC_JWS_PS256, SC_JWK_RSA, 256}, {"rsa-ps384", SC_JWS_PS384, SC_JWK_RSA, 384},
        {"rsa-ps512", SC_JWS_PS512, SC_JWK_RSA, 512}, {"ec-es256", SC_JWS_ES256, SC_JWK_EC, 64}, /* no "alg": bound by its curve */
        {"ec-es384", SC_JWS_ES384, SC_JWK_EC, 96},
    };
    for (size_t i = 0; i != sizeof(keys) / sizeof(keys[0]); ++i) {
        const sc_jwk_t *k = find_kid(idp, keys[i].kid);
        assert_non_null(k);
        assert_int_equal(k->alg, keys[i].alg);
        assert_int_equal(k->type, keys[i].type);
        assert_int_equal(k->sig_len, keys[i].sig_len);
        assert_non_null(k->pkey);
        assert_null(k->secret);
    }
    assert_null(find_kid(idp, "rsa-enc"));
    assert_null(find_kid(idp, "ed-1"));

    const sc_jwt_issuer_t *mixed = &is.items[1];
    assert_string_equal(mixed->tenant_claim, "tenant_id"); /* default */
    assert_int_equal(mixed->leeway_s, 0);
    assert_string_equal(mixed->hmac_secret_file, FIXTURES "/hs256.secret");
    assert_int_equal(mixed->num_keys, 2);
    const sc_jwk_t *hs = find_kid(mixed, "hs-mixed");
    assert_non_null(hs);
    assert_int_equal(hs->type, SC_JWK_HMAC);
    assert_int_equal(hs->alg, SC_JWS_HS256);
    assert_int_equal(hs->secret_len, 32); /* the file's trailing newline is not part of the secret */
    assert_null(hs->pkey);
    assert_int_equal(find_kid(mixed, "rsa-rs256")->alg, SC_JWS_RS256);

    sc_jwt_issuers_free(&is);
    assert_int_equal(is.count, 0);
    assert_null(is.items);
    sc_jwt_issuers_free(&is); /* idempotent */
}

static void test_no_issuers(void **state)
{
    (void)state;
    char err[256] = "";
    sc_jwt_issuers_t is;
    assert_int_equal(load("threads: 2\n", &is, err, sizeof(err)), 0);
    assert_int_equal(is.count, 0);
    assert_int_equal(load("jwt_issuers:\n", &is, err, sizeof(err)), 0);
    assert_int_equal(is.count, 0);
    sc_jwt_issuers_free(&is);
}

static void test_unambiguous_binding_without_alg(void **state)
{
    (void)state;
    char err[1024] = "";
    sc_jwt_issuers_t is;
    /* an RSA JWK without "alg" is bound to the one RSA algorithm the issuer allows */
    assert_int_equal(load("jwt_issuers:\n"
                          "  - issuer: https://a.test\n"
                          "    audiences: [x]\n"
                          "    algorithms: [PS384, ES256]\n"
                          "    jwks_file: rsa-noalg.jwks.json\n",
                          &is, err, sizeof(err)),
                     0);
    assert_int_equal(is.items[0].num_keys, 1);
    assert_int_equal(is.items[0].keys[0].alg, SC_JWS_PS384);
    sc_jwt_issuers_free(&is);
}

/* Lines: 1 jwt_issuers, 2 issuer, 3 audiences, 4 algorithms, 5 jwks_file, 6 and on: extra. */
#define ISSUER(algorithms, extra)                                                                                                  \
    "jwt_issuers:\n"                                                                                                               \
    "  - issuer: https://a.test\n"                                                                                                 \
    "    audiences: [x]\n"                                                                                                         \
    "    algorithms: " algorithms "\n"                                                                                             \
    "    jwks_file: rs256.jwks.json\n" extra
#define HMAC_ISSUER(algorithms, secret, extra)                                                                                     \
    "jwt_issuers:\n"                                                                                                               \
    "  - issuer: https://a.test\n"                                                                                                 \
    "    audiences: [x]\n"                                                                                                         \
    "    algorithms: " algorithms "\n"                                                                                             \
    "    hmac_secret_file: " secret "\n" extra
#define JWKS_ISSUER(algorithms, jwks)                                                                                              \
    "jwt_issuers:\n"                                                                                                               \
    "  - issuer: https://a.test\n"                                                                                                 \
    "    audiences: [x]\n"                                                                                                         \
    "    algorithms: " algorithms "\n"                                                                                             \
    "    jwks_file: " jwks "\n"

static const struct {
    const char *name;
    const char *yaml;
    const char *expected; /* the error must contain this */
} invalid[] = {
    /* the list and its items */
    {"not a list", "jwt_issuers: {a: 1}\n", HOST_FILE ":1: jwt_issuers: must be a list"},
    {"empty list", "jwt_issuers: []\n", HOST_FILE ":1: jwt_issuers: must list at least one issuer"},
    {"item not a mapping", "jwt_issuers:\n  - https://a.test\n", HOST_FILE ":2: jwt_issuers[0]: must be a mapping"},
    {"unknown key", ISSUER("[RS256]", "    leeway: 5\n"), HOST_FILE ":6: jwt_issuers[0].leeway: unknown key"},
    {"duplicate issuer",
     ISSUER("[RS256]", "  - issuer: https://a.test\n    audiences: [y]\n    algorithms: [RS256]\n"
                       "    jwks_file: rs256.jwks.json\n"),
     HOST_FILE ":6: jwt_issuers[1].issuer: \"https://a.test\" is already configured by jwt_issuers[0]"},
    /* issuer and audiences */
    {"missing issuer", "jwt_issuers:\n  - audiences: [x]\n    algorithms: [RS256]\n",
     HOST_FILE ":2: jwt_issuers[0].issuer: is required"},
    {"missing audiences", "jwt_issuers:\n  - issuer: https://a.test\n    algorithms: [RS256]\n    jwks_file: rs256.jwks.json\n",
     HOST_FILE ":2: jwt_issuers[0]: needs audiences (ID tokens) or client_ids (access tokens), or both"},
    {"empty audiences",
     "jwt_issuers:\n  - issuer: https://a.test\n    audiences: []\n    algorithms: [RS256]\n    jwks_file: rs256.jwks.json\n",
     HOST_FILE ":3: jwt_issuers[0].audiences: must list at least one audience"},
    {"audience not a string", "jwt_issuers:\n  - issuer: https://a.test\n    audiences: [[x]]\n",
     HOST_FILE ":3: jwt_issuers[0].audiences[0]: must be a non-empty value"},
    /* algorithms */
    {"missing algorithms", "jwt_issuers:\n  - issuer: https://a.test\n    audiences: [x]\n    jwks_file: rs256.jwks.json\n",
     HOST_FILE ":2: jwt_issuers[0].algorithms: is required"},
    {"empty algorithms", ISSUER("[]", ""), HOST_FILE ":4: jwt_issuers[0].algorithms: must list at least one algorithm"},
    {"none refused", ISSUER("[RS256, none]", ""),
     HOST_FILE ":4: jwt_issuers[0].algorithms[1]: \"none\" is refused: unsigned tokens are never accepted"},
    {"None refused", ISSUER("None", ""), HOST_FILE ":4: jwt_issuers[0].algorithms: \"None\" is refused"},
    {"algorithms are case-sensitive", ISSUER("[rs256]", ""),
     HOST_FILE ":4: jwt_issuers[0].algorithms[0]: unknown algorithm \"rs256\" (one of RS256, RS384, RS512, PS256, PS384, "
               "PS512, ES256, ES384, HS256, HS384, HS512; names are case-sensitive)"},
    {"unsupported algorithm", ISSUER("[RS256, EdDSA]", ""),
     HOST_FILE ":4: jwt_issuers[0].algorithms[1]: unknown algorithm \"EdDSA\""},
    /* other values */
    {"leeway too large", ISSUER("[RS256]", "    leeway_s: 301\n"),
     HOST_FILE ":6: jwt_issuers[0].leeway_s: 301 is out of range [0, 300]"},
    {"empty tenant claim", ISSUER("[RS256]", "    tenant_claim: ''\n"),
     HOST_FILE ":6: jwt_issuers[0].tenant_claim: must not be empty"},
    {"no key file", "jwt_issuers:\n  - issuer: https://a.test\n    audiences: [x]\n    algorithms: [RS256]\n",
     HOST_FILE ":2: jwt_issuers[0]: needs jwks_file or hmac_secret_file"},
    /* HMAC */
    {"short HMAC secret", HMAC_ISSUER("[HS256]", "short.secret", ""),
     HOST_FILE ":5: jwt_issuers[0].hmac_secret_file: " FIXTURES "/short.secret: the secret is 16 bytes; HS256 needs at least 32"},
    {"HS512 secret shorter than the digest", HMAC_ISSUER("[HS512]", "hs256.secret", ""),
     HOST_FILE ":5: jwt_issuers[0].hmac_secret_file: " FIXTURES "/hs256.secret: the secret is 32 bytes; HS512 needs at least 64"},
    {"secret for two algorithms", HMAC_ISSUER("[HS256, HS384]", "hs512.secret", ""),
     HOST_FILE ":5: jwt_issuers[0].hmac_secret_file: " FIXTURES
               "/hs512.secret: a secret is bound to exactly one algorithm, and the issuer allows HS256, HS384"},
    {"secret without an HMAC algorithm", HMAC_ISSUER("[RS256]", "hs256.secret", ""),
     HOST_FILE ":5: jwt_issuers[0].hmac_secret_file: " FIXTURES "/hs256.secret: a secret is bound to exactly one algorithm, and "
               "the issuer allows none of HS256, HS384, HS512"},
    {"HMAC algorithm without a secret", ISSUER("[RS256, HS256]", ""),
     HOST_FILE ":4: jwt_issuers[0].algorithms: HS256 needs hmac_secret_file"},
    {"hmac_kid without a secret", ISSUER("[RS256]", "    hmac_kid: hs-1\n"),
     HOST_FILE ":6: jwt_issuers[0].hmac_kid: needs hmac_secret_file"},
    {"hmac_kid names a JWKS key", ISSUER("[RS256, HS256]", "    hmac_secret_file: hs256.secret\n    hmac_kid: rsa-rs256\n"),
     HOST_FILE ":7: jwt_issuers[0].hmac_kid: kid \"rsa-rs256\" names two keys"},
    {"missing secret file", HMAC_ISSUER("[HS256]", "nope.secret", ""),
     HOST_FILE ":5: jwt_issuers[0].hmac_secret_file: " FIXTURES "/nope.secret: cannot open"},
    /* JWKS files: the file, the key's index and kid */
    {"missing JWKS file", JWKS_ISSUER("[RS256]", "nope.json"),
     HOST_FILE ":5: jwt_issuers[0].jwks_file: " FIXTURES "/nope.json: cannot open"},
    {"RSA-1024", JWKS_ISSUER("[RS256]", "rsa-1024.jwks.json"),
     HOST_FILE ":5: jwt_issuers[0].jwks_file: " FIXTURES
               "/rsa-1024.jwks.json: keys[0] (kid \"rsa-small\"): RSA key of 1024 bits; at least 2048 are required"},
    {"JWK without alg, ambiguous", JWKS_ISSUER("[RS256, PS256, ES256]", "rsa-noalg.jwks.json"),
     HOST_FILE ":5: jwt_issuers[0].jwks_file: " FIXTURES "/rsa-noalg.jwks.json: keys[0] (kid \"rsa-noalg\"): no \"alg\", and the "
               "issuer allows several algorithms for this RSA key (RS256, PS256): add \"alg\" to the JWK"},
    {"JWK without alg, no candidate", JWKS_ISSUER("[ES256]", "rsa-noalg.jwks.json"),
     HOST_FILE ":5: jwt_issuers[0].jwks_file: " FIXTURES "/rsa-noalg.jwks.json: keys[0] (kid \"rsa-noalg\"): none of the issuer's "
               "algorithms (ES256) suits this RSA key"},
    {"EC curve not matching alg", JWKS_ISSUER("[ES256, ES384]", "ec-mismatch.jwks.json"),
     HOST_FILE ":5: jwt_issuers[0].jwks_file: " FIXTURES
               "/ec-mismatch.jwks.json: keys[0] (kid \"ec-wrong-curve\"): \"alg\": ES384 does not suit this EC P-256 key (it "
               "suits ES256)"},
    {"JWK alg not allowed", JWKS_ISSUER("[RS256]", "jwks.json"),
     HOST_FILE ":5: jwt_issuers[0].jwks_file: " FIXTURES
               "/jwks.json: keys[2] (kid \"rsa-rs384\"): \"alg\": RS384 is not in the issuer's algorithms (RS256)"},
    {"JWKS without a signature key", JWKS_ISSUER("[RS256]", "enc-only.jwks.json"),
     HOST_FILE ":5: jwt_issuers[0].jwks_file: " FIXTURES "/enc-only.jwks.json: holds no signature key"},
    {"JWKS not JSON", JWKS_ISSUER("[RS256]", "issuers.yaml"),
     HOST_FILE ":5: jwt_issuers[0].jwks_file: " FIXTURES "/issuers.yaml:1:1: invalid JSON"},
    /* YAML */
    {"not a mapping", "- 1\n", HOST_FILE ":1: must be a mapping"},
    {"yaml syntax", "jwt_issuers: [\n", HOST_FILE ":2: invalid YAML"},
};

static void test_invalid_configs(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i != sizeof(invalid) / sizeof(invalid[0]); ++i) {
        char err[1024] = "";
        sc_jwt_issuers_t is;
        int rc = load(invalid[i].yaml, &is, err, sizeof(err));
        if (rc == 0 || strstr(err, invalid[i].expected) == NULL) {
            print_error("case \"%s\": expected error containing\n  %s\ngot\n  %s\n", invalid[i].name, invalid[i].expected,
                        rc == 0 ? "(loaded)" : err);
            ++failures;
        }
        /* nothing is left half-loaded */
        assert_int_equal(is.count, 0);
        assert_null(is.items);
        sc_jwt_issuers_free(&is);
    }
    assert_int_equal(failures, 0);
}

/* A secret file given as a JWKS by mistake must not end up quoted in the error message. */
static void test_error_does_not_quote_secrets(void **state)
{
    (void)state;
    char err[1024] = "", secret[128] = "";
    sc_jwt_issuers_t is;
    FILE *fp = fopen(FIXTURES "/hs256.secret", "r");
    assert_non_null(fp);
    assert_non_null(fgets(secret, sizeof(secret), fp));
    fclose(fp);
    secret[strcspn(secret, "\n")] = '\0';
    assert_int_equal(load(JWKS_ISSUER("[RS256]", "hs256.secret"), &is, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "invalid JSON"));
    assert_null(strstr(err, secret));
    assert_null(strstr(err, "near"));
    /* nor a fragment of it */
    secret[8] = '\0';
    assert_null(strstr(err, secret));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_no_issuers),
        cmocka_unit_test(test_unambiguous_binding_without_alg),
        cmocka_unit_test(test_invalid_configs),
        cmocka_unit_test(test_error_does_not_quote_secrets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
