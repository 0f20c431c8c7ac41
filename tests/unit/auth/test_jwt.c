/* JWT verification: a table of tokens minted by jose (tests/fixtures/jwt/make-fixtures.mjs), valid
 * ones with the exact claims they must yield and attacks with the exact result each must get. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jwt.h"
#include "jwt_issuers.h"

#define FIXTURES TEST_DATA_DIR "/../../fixtures/jwt"
#define HOST_FILE FIXTURES "/host.yaml"
#define NOW 2000000000 /* between the tokens' iat (1900000000) and exp (4102444800) */
#define EXP 4102444800

static const char issuers_yaml[] = "jwt_issuers:\n"
                                   "  - issuer: https://idp.example.test\n"
                                   "    audiences: ['api://sidecar', langchain]\n"
                                   "    algorithms: [RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384]\n"
                                   "    jwks_file: jwks.json\n"
                                   "    tenant_claim: custom:tenant_id\n"
                                   "  - issuer: https://rs-only.example.test\n"
                                   "    audiences: ['api://sidecar']\n"
                                   "    algorithms: [RS256]\n"
                                   "    jwks_file: rs256.jwks.json\n"
                                   "  - issuer: https://mixed.example.test\n"
                                   "    audiences: ['api://sidecar']\n"
                                   "    algorithms: [RS256, HS256]\n"
                                   "    jwks_file: rs256.jwks.json\n"
                                   "    hmac_secret_file: hs256.secret\n"
                                   "    hmac_kid: hs-mixed\n"
                                   "  - issuer: https://hs256.example.test\n"
                                   "    audiences: 'api://sidecar'\n"
                                   "    algorithms: HS256\n"
                                   "    hmac_secret_file: hs256.secret\n"
                                   "    hmac_kid: hs-256\n"
                                   "  - issuer: https://hs384.example.test\n"
                                   "    audiences: ['api://sidecar']\n"
                                   "    algorithms: [HS384]\n"
                                   "    hmac_secret_file: hs384.secret\n"
                                   "  - issuer: https://hs512.example.test\n"
                                   "    audiences: ['api://sidecar']\n"
                                   "    algorithms: [HS512]\n"
                                   "    hmac_secret_file: " FIXTURES "/hs512.secret\n"
                                   "    leeway_s: 0\n";

typedef struct fixture {
    sc_jwt_issuers_t issuers;
    json_t *tokens;
} fixture_t;

static int setup(void **state)
{
    static fixture_t f;
    char err[1024] = "";
    json_error_t jerr;
    if (sc_jwt_issuers_load_string(issuers_yaml, strlen(issuers_yaml), HOST_FILE, &f.issuers, err, sizeof(err)) != 0) {
        print_error("loading the issuers: %s\n", err);
        return -1;
    }
    if ((f.tokens = json_load_file(FIXTURES "/tokens.json", 0, &jerr)) == NULL) {
        print_error("%s: %s\n", FIXTURES "/tokens.json", jerr.text);
        return -1;
    }
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    sc_jwt_issuers_free(&f->issuers);
    json_decref(f->tokens);
    return 0;
}

static const char *token(fixture_t *f, const char *name)
{
    const char *t = json_string_value(json_object_get(f->tokens, name));
    if (t == NULL)
        fail_msg("no token \"%s\" in tokens.json: run make-fixtures.mjs", name);
    return t;
}

static sc_jwt_result_t verify_at(fixture_t *f, const char *name, int64_t now, sc_jwt_claims_t *claims)
{
    const char *t = token(f, name);
    return sc_jwt_verify(&f->issuers, t, strlen(t), now, claims);
}

/* The scopes joined by spaces, for comparisons. */
static const char *joined(const sc_jwt_claims_t *c, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i != c->num_scopes; ++i)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i != 0 ? " " : "", c->scopes[i]);
    return buf;
}

/* ---- valid tokens ----------------------------------------------------------------------------- */

#define MAIN "https://idp.example.test"
#define STD_CLAIMS "user-123", "tenant-a", "read write", EXP

static const struct {
    const char *name;
    const char *issuer;
    const char *subject; /* NULL: absent */
    const char *tenant;
    const char *scopes; /* joined by spaces */
    int64_t exp;
} valid[] = {
    {"rs256", MAIN, STD_CLAIMS},
    {"rs384", MAIN, STD_CLAIMS},
    {"rs512", MAIN, STD_CLAIMS},
    {"ps256", MAIN, STD_CLAIMS},
    {"ps384", MAIN, STD_CLAIMS},
    {"ps512", MAIN, STD_CLAIMS},
    {"es256", MAIN, STD_CLAIMS},
    {"es384", MAIN, STD_CLAIMS},
    {"rs256_next", MAIN, STD_CLAIMS},   /* a second RS256 key, chosen by kid */
    {"es256_no_kid", MAIN, STD_CLAIMS}, /* no kid: the issuer's only ES256 key */
    /* the HMAC issuers use the default tenant claim, tenant_id, which these tokens lack */
    {"hs256", "https://hs256.example.test", "user-123", NULL, "read write", EXP},
    {"hs384", "https://hs384.example.test", "user-123", NULL, "read write", EXP},
    {"hs512", "https://hs512.example.test", "user-123", NULL, "read write", EXP},
    {"mixed_rs256", "https://mixed.example.test", "user-123", NULL, "read write", EXP},
    {"mixed_hs256", "https://mixed.example.test", "user-123", NULL, "read write", EXP},
    {"typ_at_jwt", MAIN, STD_CLAIMS},
    {"typ_application_at_jwt", MAIN, STD_CLAIMS},
    {"typ_absent", MAIN, STD_CLAIMS},
    {"aud_array", MAIN, STD_CLAIMS}, /* ["api://other", "langchain"] */
    {"nbf_past", MAIN, STD_CLAIMS},
    {"embedded_jwk_ignored", MAIN, STD_CLAIMS}, /* a "jwk" header is ignored, the configured key verifies */
    {"scp_array", MAIN, "user-123", "tenant-a", "read write admin", EXP},
    {"scp_string", MAIN, "user-123", "tenant-a", "read", EXP},
    {"scope_spaces", MAIN, "user-123", "tenant-a", "read write", EXP}, /* "  read   write " */
    {"minimal", MAIN, NULL, NULL, "", EXP},
    {"exp_real", MAIN, NULL, NULL, "", EXP}, /* 4102444800.5, rounded down */
};

static void check_valid(fixture_t *f, size_t i)
{
    char scopes[256];
    sc_jwt_claims_t c;
    sc_jwt_result_t result = verify_at(f, valid[i].name, NOW, &c);
    if (result != SC_JWT_OK)
        fail_msg("token \"%s\": expected ok, got %s", valid[i].name, sc_jwt_result_reason(result));
    assert_non_null(c.issuer);
    assert_string_equal(c.issuer->issuer, valid[i].issuer);
    if (valid[i].subject != NULL)
        assert_string_equal(c.subject, valid[i].subject);
    else
        assert_null(c.subject);
    if (valid[i].tenant != NULL)
        assert_string_equal(c.tenant, valid[i].tenant);
    else
        assert_null(c.tenant);
    assert_string_equal(joined(&c, scopes, sizeof(scopes)), valid[i].scopes);
    assert_int_equal(c.exp, valid[i].exp);
    sc_jwt_claims_free(&c);
    assert_null(c.subject);
}

static void test_valid_tokens(void **state)
{
    for (size_t i = 0; i != sizeof(valid) / sizeof(valid[0]); ++i)
        check_valid(*state, i);
}

/* ---- refused tokens --------------------------------------------------------------------------- */

static const struct {
    const char *name;
    sc_jwt_result_t expected;
} refused[] = {
    /* "none", in any spelling, signed or not */
    {"alg_none", SC_JWT_ALG_NOT_ALLOWED},
    {"alg_none_sig", SC_JWT_ALG_NOT_ALLOWED},
    {"alg_None", SC_JWT_ALG_NOT_ALLOWED},
    {"alg_None_sig", SC_JWT_ALG_NOT_ALLOWED},
    {"alg_NONE", SC_JWT_ALG_NOT_ALLOWED},
    {"alg_NONE_sig", SC_JWT_ALG_NOT_ALLOWED},
    {"alg_nOnE", SC_JWT_ALG_NOT_ALLOWED},
    {"alg_nOnE_sig", SC_JWT_ALG_NOT_ALLOWED},
    {"alg_none_kid", SC_JWT_ALG_NOT_ALLOWED},
    /* algorithm confusion: HS256 keyed with the RSA public key PEM */
    {"confusion_rs_only", SC_JWT_ALG_NOT_ALLOWED},        /* issuer allows RS256 only */
    {"confusion_rs_only_no_kid", SC_JWT_ALG_NOT_ALLOWED}, /* idem, no kid */
    {"confusion_mixed", SC_JWT_ALG_NOT_ALLOWED},          /* issuer allows HS256 too, but kid's key is pinned RS256 */
    {"confusion_mixed_no_kid", SC_JWT_BAD_SIGNATURE},     /* no kid: the HS256 key is the issuer's own secret */
    {"ps256_key_as_rs256", SC_JWT_ALG_NOT_ALLOWED},       /* PS256 key, RS256 header */
    {"es384_key_as_es256", SC_JWT_ALG_NOT_ALLOWED},
    {"alg_lowercase", SC_JWT_ALG_NOT_ALLOWED}, /* "rs256" */
    {"alg_eddsa", SC_JWT_ALG_NOT_ALLOWED},
    /* keys and signatures */
    {"wrong_key", SC_JWT_BAD_SIGNATURE}, /* another RSA key, same kid */
    {"embedded_jwk_attack", SC_JWT_BAD_SIGNATURE},
    {"unknown_kid", SC_JWT_UNKNOWN_KEY},
    {"rs256_no_kid", SC_JWT_UNKNOWN_KEY}, /* two RS256 keys: a kid is needed */
    {"hs384_kid", SC_JWT_UNKNOWN_KEY},    /* the HS384 key has no kid */
    {"hs256_wrong_secret", SC_JWT_BAD_SIGNATURE},
    {"es256_der", SC_JWT_BAD_SIGNATURE}, /* DER instead of R||S */
    {"sig_truncated", SC_JWT_BAD_SIGNATURE},
    {"sig_noncanonical", SC_JWT_MALFORMED}, /* unused bits set in the last base64url character */
    {"payload_tampered", SC_JWT_BAD_SIGNATURE},
    /* claims */
    {"expired", SC_JWT_EXPIRED},
    {"nbf_future", SC_JWT_NOT_YET_VALID},
    {"iat_future", SC_JWT_NOT_YET_VALID},
    {"wrong_iss", SC_JWT_UNKNOWN_ISSUER},
    {"iss_missing", SC_JWT_MISSING_CLAIM},
    {"iss_number", SC_JWT_MALFORMED},
    {"wrong_aud", SC_JWT_AUDIENCE_MISMATCH},
    {"aud_array_wrong", SC_JWT_AUDIENCE_MISMATCH},
    {"aud_missing", SC_JWT_MISSING_CLAIM},
    {"aud_number", SC_JWT_MALFORMED},
    {"exp_missing", SC_JWT_MISSING_CLAIM},
    {"exp_string", SC_JWT_MALFORMED},
    {"exp_bool", SC_JWT_MALFORMED},
    {"exp_null", SC_JWT_MALFORMED},
    {"nbf_string", SC_JWT_MALFORMED},
    {"sub_number", SC_JWT_MALFORMED},
    {"sub_control", SC_JWT_MALFORMED}, /* "user\r\nX-Tenant-ID: other" */
    {"tenant_number", SC_JWT_MALFORMED},
    {"scope_array", SC_JWT_MALFORMED}, /* only "scp" may be an array */
    {"scope_array_of_numbers", SC_JWT_MALFORMED},
    {"claim_duplicated", SC_JWT_MALFORMED}, /* "exp" twice */
    /* header */
    {"typ_jose", SC_JWT_BAD_TYPE},
    {"typ_number", SC_JWT_BAD_TYPE},
    {"crit", SC_JWT_UNSUPPORTED_CRIT},
    {"crit_empty", SC_JWT_UNSUPPORTED_CRIT},
    {"alg_missing", SC_JWT_MALFORMED},
    {"alg_number", SC_JWT_MALFORMED},
    {"kid_number", SC_JWT_MALFORMED},
    {"header_bad_json", SC_JWT_MALFORMED},
    {"header_not_object", SC_JWT_MALFORMED},
    {"header_duplicate_alg", SC_JWT_MALFORMED},
    {"payload_bad_json", SC_JWT_MALFORMED},
    {"payload_not_object", SC_JWT_MALFORMED},
    {"payload_trailing_garbage", SC_JWT_MALFORMED},
    /* size and encoding */
    {"oversized", SC_JWT_TOO_LARGE},
    {"b64_bad_char", SC_JWT_MALFORMED},
    {"b64_standard_alphabet", SC_JWT_MALFORMED},
    {"b64_padding", SC_JWT_MALFORMED},
    {"b64_whitespace", SC_JWT_MALFORMED},
    {"two_segments", SC_JWT_MALFORMED},
    {"four_segments", SC_JWT_MALFORMED},
    {"empty_header", SC_JWT_MALFORMED},
    {"empty_payload", SC_JWT_MALFORMED},
    {"empty", SC_JWT_MALFORMED},
    {"dots", SC_JWT_MALFORMED},
};

static void test_refused_tokens(void **state)
{
    int failures = 0;
    for (size_t i = 0; i != sizeof(refused) / sizeof(refused[0]); ++i) {
        sc_jwt_claims_t c;
        sc_jwt_result_t result = verify_at(*state, refused[i].name, NOW, &c);
        if (result != refused[i].expected) {
            print_error("token \"%s\": expected %s, got %s\n", refused[i].name, sc_jwt_result_reason(refused[i].expected),
                        sc_jwt_result_reason(result));
            ++failures;
        }
        /* a refusal leaves nothing to free */
        assert_null(c.issuer);
        assert_null(c.subject);
        assert_null(c.tenant);
        assert_null(c.scopes);
    }
    assert_int_equal(failures, 0);
}

/* Every fixture token is in one of the two tables, so none is generated and left unchecked. */
static void test_every_fixture_is_checked(void **state)
{
    fixture_t *f = *state;
    const char *name;
    json_t *value;
    json_object_foreach(f->tokens, name, value)
    {
        int seen = 0;
        for (size_t i = 0; i != sizeof(valid) / sizeof(valid[0]); ++i)
            seen += strcmp(valid[i].name, name) == 0;
        for (size_t i = 0; i != sizeof(refused) / sizeof(refused[0]); ++i)
            seen += strcmp(refused[i].name, name) == 0;
        if (seen != 1)
            fail_msg("token \"%s\" is in %d tables", name, seen);
    }
}

/* ---- time ------------------------------------------------------------------------------------- */

static void expect_at(fixture_t *f, const char *name, int64_t now, sc_jwt_result_t expected)
{
    sc_jwt_claims_t c;
    sc_jwt_result_t result = verify_at(f, name, now, &c);
    if (result != expected)
        fail_msg("token \"%s\" at %lld: expected %s, got %s", name, (long long)now, sc_jwt_result_reason(expected),
                 sc_jwt_result_reason(result));
    sc_jwt_claims_free(&c);
}

static void test_time_boundaries(void **state)
{
    fixture_t *f = *state;
    /* exp, with the default leeway of 30 s: valid while now < exp + 30 */
    expect_at(f, "rs256", EXP + 29, SC_JWT_OK);
    expect_at(f, "rs256", EXP + 30, SC_JWT_EXPIRED);
    expect_at(f, "exp_real", EXP + 29, SC_JWT_OK); /* 4102444800.5 counts as 4102444800 */
    expect_at(f, "exp_real", EXP + 30, SC_JWT_EXPIRED);
    /* leeway_s: 0 */
    expect_at(f, "hs512", EXP - 1, SC_JWT_OK);
    expect_at(f, "hs512", EXP, SC_JWT_EXPIRED);
    /* "expired" has exp 1900000100 */
    expect_at(f, "expired", 1900000100 + 29, SC_JWT_OK);
    expect_at(f, "expired", 1900000100 + 30, SC_JWT_EXPIRED);
    /* nbf 2100000000: valid from nbf - leeway */
    expect_at(f, "nbf_future", 2100000000 - 31, SC_JWT_NOT_YET_VALID);
    expect_at(f, "nbf_future", 2100000000 - 30, SC_JWT_OK);
    /* iat 2100000000: a token from the future beyond the leeway */
    expect_at(f, "iat_future", 2100000000 - 31, SC_JWT_NOT_YET_VALID);
    expect_at(f, "iat_future", 2100000000 - 30, SC_JWT_OK);
    expect_at(f, "rs256", 1900000000 - 31, SC_JWT_NOT_YET_VALID);
    /* extreme clocks do not overflow */
    expect_at(f, "rs256", INT64_MAX, SC_JWT_EXPIRED);
    expect_at(f, "rs256", INT64_MIN, SC_JWT_NOT_YET_VALID);
    expect_at(f, "minimal", INT64_MIN, SC_JWT_OK); /* no iat, no nbf */
}

/* ---- other inputs ----------------------------------------------------------------------------- */

static void test_sizes_and_bytes(void **state)
{
    fixture_t *f = *state;
    sc_jwt_claims_t c;
    char *big = malloc(SC_JWT_MAX_TOKEN_LEN + 2);
    memset(big, 'a', SC_JWT_MAX_TOKEN_LEN + 1);
    big[SC_JWT_MAX_TOKEN_LEN + 1] = '\0';
    assert_int_equal(sc_jwt_verify(&f->issuers, big, SC_JWT_MAX_TOKEN_LEN + 1, NOW, &c), SC_JWT_TOO_LARGE);
    assert_int_equal(sc_jwt_verify(&f->issuers, big, SC_JWT_MAX_TOKEN_LEN, NOW, &c), SC_JWT_MALFORMED);
    free(big);
    assert_int_equal(sc_jwt_verify(&f->issuers, NULL, 0, NOW, &c), SC_JWT_MALFORMED);

    /* the token need not be NUL-terminated: only len bytes are read */
    const char *t = token(f, "es256");
    size_t len = strlen(t);
    char *buf = malloc(len + 16);
    memcpy(buf, t, len);
    memcpy(buf + len, ".garbage\r\n\0more", 16);
    assert_int_equal(sc_jwt_verify(&f->issuers, buf, len, NOW, &c), SC_JWT_OK);
    sc_jwt_claims_free(&c);
    /* but a byte more is part of the token */
    assert_int_equal(sc_jwt_verify(&f->issuers, buf, len + 1, NOW, &c), SC_JWT_MALFORMED);
    /* an embedded NUL is not a base64url character */
    buf[len / 2] = '\0';
    assert_int_equal(sc_jwt_verify(&f->issuers, buf, len, NOW, &c), SC_JWT_MALFORMED);
    free(buf);
}

static void test_no_issuers(void **state)
{
    fixture_t *f = *state;
    sc_jwt_issuers_t none = {0};
    sc_jwt_claims_t c;
    const char *t = token(f, "rs256");
    assert_int_equal(sc_jwt_verify(&none, t, strlen(t), NOW, &c), SC_JWT_UNKNOWN_ISSUER);
    t = token(f, "alg_none");
    assert_int_equal(sc_jwt_verify(&none, t, strlen(t), NOW, &c), SC_JWT_ALG_NOT_ALLOWED);
}

static void test_claims_copy(void **state)
{
    fixture_t *f = *state;
    sc_jwt_claims_t c, copy, empty = {0}, empty_copy;
    assert_int_equal(verify_at(f, "scp_array", NOW, &c), SC_JWT_OK);
    assert_int_equal(sc_jwt_claims_copy(&copy, &c), 0);
    sc_jwt_claims_free(&c);
    assert_ptr_equal(copy.issuer, &f->issuers.items[0]);
    assert_string_equal(copy.subject, "user-123");
    assert_string_equal(copy.tenant, "tenant-a");
    assert_int_equal(copy.num_scopes, 3);
    assert_string_equal(copy.scopes[0], "read");
    assert_string_equal(copy.scopes[2], "admin");
    assert_null(copy.scopes[3]);
    assert_int_equal(copy.exp, EXP);
    sc_jwt_claims_free(&copy);
    sc_jwt_claims_free(&copy); /* zeroed: a second free is harmless */
    assert_int_equal(sc_jwt_claims_copy(&empty_copy, &empty), 0);
    assert_null(empty_copy.subject);
    assert_null(empty_copy.scopes);
    sc_jwt_claims_free(NULL);
}

static void test_reasons(void **state)
{
    (void)state;
    assert_string_equal(sc_jwt_result_reason(SC_JWT_OK), "ok");
    assert_string_equal(sc_jwt_result_reason(SC_JWT_MALFORMED), "malformed_token");
    assert_string_equal(sc_jwt_result_reason(SC_JWT_TOO_LARGE), "token_too_large");
    assert_string_equal(sc_jwt_result_reason(SC_JWT_UNKNOWN_ISSUER), "unknown_issuer");
    assert_string_equal(sc_jwt_result_reason(SC_JWT_UNKNOWN_KEY), "unknown_key");
    assert_string_equal(sc_jwt_result_reason(SC_JWT_ALG_NOT_ALLOWED), "algorithm_not_allowed");
    assert_string_equal(sc_jwt_result_reason(SC_JWT_BAD_SIGNATURE), "bad_signature");
    assert_string_equal(sc_jwt_result_reason(SC_JWT_EXPIRED), "token_expired");
    assert_string_equal(sc_jwt_result_reason(SC_JWT_NOT_YET_VALID), "token_not_yet_valid");
    assert_string_equal(sc_jwt_result_reason(SC_JWT_AUDIENCE_MISMATCH), "audience_mismatch");
    assert_string_equal(sc_jwt_result_reason(SC_JWT_BAD_TYPE), "bad_token_type");
    assert_string_equal(sc_jwt_result_reason(SC_JWT_UNSUPPORTED_CRIT), "unsupported_crit");
    assert_string_equal(sc_jwt_result_reason(SC_JWT_MISSING_CLAIM), "missing_claim");
    assert_string_equal(sc_jwt_result_reason(SC_JWT_INTERNAL_ERROR), "internal_error");
    assert_string_equal(sc_jwt_result_reason((sc_jwt_result_t)999), "internal_error");
    /* every result has its own code */
    for (int i = 0; i != SC_JWT_RESULT_COUNT; ++i)
        for (int j = 0; j != i; ++j)
            assert_string_not_equal(sc_jwt_result_reason((sc_jwt_result_t)i), sc_jwt_result_reason((sc_jwt_result_t)j));
}

static void test_issuers_find(void **state)
{
    fixture_t *f = *state;
    assert_ptr_equal(sc_jwt_issuers_find(&f->issuers, "https://mixed.example.test", 26), &f->issuers.items[2]);
    assert_null(sc_jwt_issuers_find(&f->issuers, "https://mixed.example.test/", 27));
    assert_null(sc_jwt_issuers_find(&f->issuers, "https://mixed.example.tes", 25));
    assert_null(sc_jwt_issuers_find(&f->issuers, "HTTPS://mixed.example.test", 26));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_tokens),
        cmocka_unit_test(test_refused_tokens),
        cmocka_unit_test(test_every_fixture_is_checked),
        cmocka_unit_test(test_time_boundaries),
        cmocka_unit_test(test_sizes_and_bytes),
        cmocka_unit_test(test_no_issuers),
        cmocka_unit_test(test_claims_copy),
        cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_issuers_find),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
