/* Which tokens an issuer accepts (token_use, audiences, client_ids), where scopes are read
 * (scopes_claims), keys handed in by the caller (the fetched set), and the configuration of
 * remote keys, with the file, line and key each error must name. Tokens are HS256, minted here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "file_util.h"
#include "jwks_remote.h"
#include "jwt.h"
#include "jwt_issuers.h"

#define FIXTURES TEST_DATA_DIR "/../../fixtures/jwt"
#define HOST_FILE FIXTURES "/host.yaml"
#define NOW 2000000000
#define ISS "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc123"

/* Lines: 1 jwt_issuers, 2 issuer, 3 algorithms, 4 hmac_secret_file, 5 tenant_claim, 6 and on: extra. */
#define ISSUER(extra)                                                                                                              \
    "jwt_issuers:\n"                                                                                                               \
    "  - issuer: " ISS "\n"                                                                                                        \
    "    algorithms: [HS256]\n"                                                                                                    \
    "    hmac_secret_file: hs256.secret\n"                                                                                         \
    "    tenant_claim: custom:tenant_id\n" extra

static void b64url(const unsigned char *in, size_t len, char *out)
{
    size_t n = (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    while (n != 0 && out[n - 1] == '=')
        --n;
    out[n] = '\0';
    for (char *p = out; *p != '\0'; ++p)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
}

/* An HS256 token over `payload` (JSON) with the fixture secret, or `secret` when not NULL. */
static char *mint(const char *kid, const char *payload, const char *secret)
{
    char header[128], *key = NULL, *token = malloc(4096);
    size_t key_len = 0, used;
    unsigned char mac[32];
    unsigned mac_len = 0;
    char err[256];

    snprintf(header, sizeof(header), "{\"alg\":\"HS256\",\"typ\":\"JWT\"%s%s%s}", kid != NULL ? ",\"kid\":\"" : "",
             kid != NULL ? kid : "", kid != NULL ? "\"" : "");
    b64url((const unsigned char *)header, strlen(header), token);
    used = strlen(token);
    token[used++] = '.';
    b64url((const unsigned char *)payload, strlen(payload), token + used);
    used = strlen(token);
    if (secret != NULL) {
        key = strdup(secret);
        key_len = strlen(secret);
    } else {
        assert_int_equal(sc_file_util_read(FIXTURES "/hs256.secret", 4096, &key, &key_len, err, sizeof(err)), 0);
        if (key_len != 0 && key[key_len - 1] == '\n')
            --key_len;
    }
    HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)token, used, mac, &mac_len);
    free(key);
    token[used++] = '.';
    b64url(mac, mac_len, token + used);
    return token;
}

static sc_jwt_result_t verify(const char *yaml, const char *payload, sc_jwt_claims_t *claims)
{
    char err[1024] = "";
    sc_jwt_issuers_t is;
    if (sc_jwt_issuers_load_string(yaml, strlen(yaml), HOST_FILE, &is, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    char *token = mint(NULL, payload, NULL);
    sc_jwt_claims_t local;
    sc_jwt_result_t result = sc_jwt_verify(&is, token, strlen(token), NOW, claims != NULL ? claims : &local);
    if (claims == NULL)
        sc_jwt_claims_free(&local);
    else
        claims->issuer = NULL; /* the issuers are gone after this */
    free(token);
    sc_jwt_issuers_free(&is);
    return result;
}

#define CLAIMS(extra) "{\"iss\":\"" ISS "\",\"sub\":\"u1\",\"exp\":4102444800,\"custom:tenant_id\":\"acme\"" extra "}"

static void assert_scopes(const sc_jwt_claims_t *c, const char *const *want, size_t n)
{
    assert_int_equal(c->num_scopes, n);
    for (size_t i = 0; i != n; ++i)
        assert_string_equal(c->scopes[i], want[i]);
}

static void test_cognito_access_token(void **state)
{
    (void)state;
    const char *yaml = ISSUER("    client_ids: [app-1, app-2]\n");
    sc_jwt_claims_t c;
    assert_int_equal(
        verify(yaml, CLAIMS(",\"client_id\":\"app-2\",\"token_use\":\"access\",\"scope\":\"langchain/read openid\""), &c),
        SC_JWT_OK);
    static const char *const want[] = {"langchain/read", "openid"};
    assert_scopes(&c, want, 2);
    assert_string_equal(c.tenant, "acme");
    sc_jwt_claims_free(&c);
    /* without token_use, a token without aud is an access token too */
    assert_int_equal(verify(yaml, CLAIMS(",\"client_id\":\"app-1\""), NULL), SC_JWT_OK);
    assert_int_equal(verify(yaml, CLAIMS(",\"client_id\":\"app-3\",\"token_use\":\"access\""), NULL), SC_JWT_AUDIENCE_MISMATCH);
    assert_int_equal(verify(yaml, CLAIMS(",\"token_use\":\"access\""), NULL), SC_JWT_MISSING_CLAIM);
    assert_int_equal(verify(yaml, CLAIMS(",\"client_id\":[\"app-1\"]"), NULL), SC_JWT_MALFORMED);
    /* only client_ids: a token that has neither client_id nor aud, or an ID token, is refused */
    assert_int_equal(verify(yaml, CLAIMS(""), NULL), SC_JWT_MISSING_CLAIM);
    assert_int_equal(verify(yaml, CLAIMS(",\"aud\":\"app-1\",\"token_use\":\"id\""), NULL), SC_JWT_AUDIENCE_MISMATCH);
}

static void test_id_token_and_token_use(void **state)
{
    (void)state;
    const char *any = ISSUER("    audiences: [app-1]\n    client_ids: [app-1]\n");
    assert_int_equal(verify(any, CLAIMS(",\"aud\":\"app-1\",\"token_use\":\"id\""), NULL), SC_JWT_OK);
    assert_int_equal(verify(any, CLAIMS(",\"aud\":\"app-1\""), NULL), SC_JWT_OK);
    assert_int_equal(verify(any, CLAIMS(",\"client_id\":\"app-1\",\"token_use\":\"access\""), NULL), SC_JWT_OK);
    assert_int_equal(verify(any, CLAIMS(",\"aud\":\"app-9\",\"token_use\":\"id\""), NULL), SC_JWT_AUDIENCE_MISMATCH);
    /* an ID token is judged by aud, whatever its client_id */
    assert_int_equal(verify(any, CLAIMS(",\"aud\":\"app-9\",\"client_id\":\"app-1\""), NULL), SC_JWT_AUDIENCE_MISMATCH);
    assert_int_equal(verify(any, CLAIMS(",\"aud\":\"app-1\",\"token_use\":\"refresh\""), NULL), SC_JWT_TOKEN_USE_MISMATCH);
    assert_int_equal(verify(any, CLAIMS(",\"aud\":\"app-1\",\"token_use\":1"), NULL), SC_JWT_MALFORMED);

    const char *access = ISSUER("    audiences: [app-1]\n    client_ids: [app-1]\n    token_use: access\n");
    assert_int_equal(verify(access, CLAIMS(",\"aud\":\"app-1\",\"token_use\":\"id\""), NULL), SC_JWT_TOKEN_USE_MISMATCH);
    assert_int_equal(verify(access, CLAIMS(",\"client_id\":\"app-1\",\"token_use\":\"access\""), NULL), SC_JWT_OK);
    /* token_use: access and no token_use claim: judged as an access token */
    assert_int_equal(verify(access, CLAIMS(",\"aud\":\"app-1\""), NULL), SC_JWT_MISSING_CLAIM);

    const char *id = ISSUER("    audiences: [app-1]\n    client_ids: [app-1]\n    token_use: id\n");
    assert_int_equal(verify(id, CLAIMS(",\"client_id\":\"app-1\",\"token_use\":\"access\""), NULL), SC_JWT_TOKEN_USE_MISMATCH);
    assert_int_equal(verify(id, CLAIMS(",\"aud\":\"app-1\",\"token_use\":\"id\""), NULL), SC_JWT_OK);
    assert_string_equal(sc_jwt_result_reason(SC_JWT_TOKEN_USE_MISMATCH), "token_use_mismatch");
}

static void test_scopes_claims(void **state)
{
    (void)state;
    const char *yaml = ISSUER("    audiences: [app-1]\n    scopes_claims: [scope, scp, \"cognito:groups\"]\n");
    sc_jwt_claims_t c;
    assert_int_equal(
        verify(yaml,
               CLAIMS(",\"aud\":\"app-1\",\"scope\":\"read\",\"scp\":[\"write\"],\"cognito:groups\":[\"admin\",\"ops team\"]"), &c),
        SC_JWT_OK);
    static const char *const all[] = {"read", "write", "admin", "ops", "team"};
    assert_scopes(&c, all, 5);
    sc_jwt_claims_free(&c);
    /* each claim may be a string or an array of strings, in the configured claims */
    assert_int_equal(verify(yaml, CLAIMS(",\"aud\":\"app-1\",\"cognito:groups\":\"admin\""), &c), SC_JWT_OK);
    static const char *const admin[] = {"admin"};
    assert_scopes(&c, admin, 1);
    sc_jwt_claims_free(&c);
    assert_int_equal(verify(yaml, CLAIMS(",\"aud\":\"app-1\",\"scope\":[\"read\"]"), &c), SC_JWT_OK);
    sc_jwt_claims_free(&c);
    assert_int_equal(verify(yaml, CLAIMS(",\"aud\":\"app-1\",\"cognito:groups\":[1]"), NULL), SC_JWT_MALFORMED);
    assert_int_equal(verify(yaml, CLAIMS(",\"aud\":\"app-1\",\"cognito:groups\":{}"), NULL), SC_JWT_MALFORMED);

    /* the default stays scope, else scp: groups are not scopes unless configured */
    const char *plain = ISSUER("    audiences: [app-1]\n");
    assert_int_equal(
        verify(plain, CLAIMS(",\"aud\":\"app-1\",\"scope\":\"read\",\"scp\":[\"x\"],\"cognito:groups\":[\"admin\"]"), &c),
        SC_JWT_OK);
    static const char *const read[] = {"read"};
    assert_scopes(&c, read, 1);
    sc_jwt_claims_free(&c);
    assert_int_equal(verify(plain, CLAIMS(",\"aud\":\"app-1\",\"scope\":[\"read\"]"), NULL), SC_JWT_MALFORMED);
}

/* The caller's keys (the fetched set) are tried after the issuer's own. */
static const sc_jwk_t *fetched_keys(void *data, const sc_jwt_issuer_t *issuer, size_t *count)
{
    *count = 1;
    return data;
}

static void test_fetched_keys(void **state)
{
    (void)state;
    static const char secret[] = "a fetched secret of at least 32 bytes!!";
    const char *yaml = ISSUER("    audiences: [app-1]\n    hmac_kid: own\n");
    char err[1024] = "";
    sc_jwt_issuers_t is;
    sc_jwk_t key;
    sc_jwt_claims_t c;
    const sc_jwt_issuer_t *issuer;

    assert_int_equal(sc_jwt_issuers_load_string(yaml, strlen(yaml), HOST_FILE, &is, err, sizeof(err)), 0);
    assert_int_equal(sc_jwks_key_hmac_init(&key, (const unsigned char *)secret, strlen(secret), "fetched-1",
                                           SC_JWS_ALGS_HMAC & is.items[0].algorithms, err, sizeof(err)),
                     0);
    sc_jwt_keyring_t ring = {fetched_keys, &key};
    char *token = mint("fetched-1", CLAIMS(",\"aud\":\"app-1\""), secret);

    assert_int_equal(sc_jwt_verify_ex(&is, NULL, token, strlen(token), NOW, &c, &issuer), SC_JWT_UNKNOWN_KEY);
    assert_ptr_equal(issuer, &is.items[0]); /* known even when the token is refused: the caller may refresh */
    assert_int_equal(sc_jwt_verify_ex(&is, &ring, token, strlen(token), NOW, &c, &issuer), SC_JWT_OK);
    assert_string_equal(c.subject, "u1");
    sc_jwt_claims_free(&c);
    free(token);
    /* the issuer's own key still verifies with the ring present */
    token = mint("own", CLAIMS(",\"aud\":\"app-1\""), NULL);
    assert_int_equal(sc_jwt_verify_ex(&is, &ring, token, strlen(token), NOW, &c, NULL), SC_JWT_OK);
    sc_jwt_claims_free(&c);
    free(token);
    /* an unknown issuer is reported as none */
    token = mint("fetched-1", "{\"iss\":\"https://other.test\",\"exp\":4102444800}", secret);
    assert_int_equal(sc_jwt_verify_ex(&is, &ring, token, strlen(token), NOW, &c, &issuer), SC_JWT_UNKNOWN_ISSUER);
    assert_null(issuer);
    free(token);
    sc_jwks_key_clear(&key);
    sc_jwt_issuers_free(&is);
}

static void test_remote_settings(void **state)
{
    (void)state;
    const char *yaml = "jwt_issuers:\n"
                       "  - issuer: " ISS "\n"
                       "    discovery: true\n"
                       "    jwks_cache_file: cognito.cache.json\n"
                       "    ca_file: hs256.secret\n"
                       "    jwks_refresh_s: 600\n"
                       "    algorithms: [RS256]\n"
                       "    client_ids: [app-1]\n"
                       "    token_use: access\n";
    char err[1024] = "";
    sc_jwt_issuers_t is;
    assert_int_equal(sc_jwt_issuers_load_string(yaml, strlen(yaml), HOST_FILE, &is, err, sizeof(err)), 0);
    const sc_jwt_issuer_t *it = &is.items[0];
    assert_non_null(it->remote);
    assert_true(it->remote->discovery);
    assert_null(it->remote->jwks_uri);
    assert_string_equal(it->remote->cache_file, FIXTURES "/cognito.cache.json");
    assert_string_equal(it->remote->ca_file, FIXTURES "/hs256.secret");
    assert_int_equal(it->remote->refresh_s, 600);
    assert_int_equal(it->remote->min_refresh_s, SC_JWKS_DEFAULT_MIN_REFRESH_S);
    assert_int_equal(it->remote->fetch_timeout_ms, SC_JWKS_DEFAULT_FETCH_TIMEOUT_MS);
    assert_int_equal(it->num_keys, 0); /* all of them will be fetched */
    assert_null(it->source);
    assert_int_equal(it->token_use, SC_JWT_TOKEN_USE_ACCESS);
    assert_int_equal(it->num_audiences, 0);
    assert_null(it->scopes_claims);
    sc_jwt_issuers_free(&is);
}

static const struct {
    const char *name;
    const char *yaml;
    const char *expected;
} invalid[] = {
    {"no audiences nor client_ids", ISSUER(""),
     HOST_FILE ":2: jwt_issuers[0]: needs audiences (ID tokens) or client_ids (access tokens), or both"},
    {"empty client_ids", ISSUER("    client_ids: []\n"),
     HOST_FILE ":6: jwt_issuers[0].client_ids: must list at least one client id"},
    {"bad token_use", ISSUER("    client_ids: [a]\n    token_use: refresh\n"),
     HOST_FILE ":7: jwt_issuers[0].token_use: \"refresh\": use id, access or any"},
    {"access without client_ids", ISSUER("    audiences: [a]\n    token_use: access\n"),
     HOST_FILE ":7: jwt_issuers[0].token_use: access tokens are checked against client_ids: list them"},
    {"id without audiences", ISSUER("    client_ids: [a]\n    token_use: id\n"),
     HOST_FILE ":7: jwt_issuers[0].token_use: ID tokens are checked against audiences: list them"},
    {"scopes from exp", ISSUER("    audiences: [a]\n    scopes_claims: [scope, exp]\n"),
     HOST_FILE ":7: jwt_issuers[0].scopes_claims[1]: \"exp\" is a claim with a meaning of its own: it cannot hold scopes"},
    {"scopes from the tenant claim", ISSUER("    audiences: [a]\n    scopes_claims: custom:tenant_id\n"),
     HOST_FILE ":7: jwt_issuers[0].scopes_claims: \"custom:tenant_id\" is the tenant claim: it cannot hold scopes"},
    {"scopes claim twice", ISSUER("    audiences: [a]\n    scopes_claims: [scp, scp]\n"),
     HOST_FILE ":7: jwt_issuers[0].scopes_claims[1]: \"scp\" is listed twice"},
    {"no scopes claim", ISSUER("    audiences: [a]\n    scopes_claims: []\n"),
     HOST_FILE ":7: jwt_issuers[0].scopes_claims: must list 1 to 8 claims"},
    {"scopes claim not a string", ISSUER("    audiences: [a]\n    scopes_claims: [[scope]]\n"),
     HOST_FILE ":7: jwt_issuers[0].scopes_claims[0]: must be a non-empty value"},
    {"jwks_uri over http", ISSUER("    audiences: [a]\n    jwks_uri: http://idp.test/keys\n"),
     HOST_FILE ":7: jwt_issuers[0].jwks_uri: \"http://idp.test/keys\" is not an https:// URL"},
    {"jwks_uri and discovery", ISSUER("    audiences: [a]\n    discovery: true\n    jwks_uri: https://idp.test/keys\n"),
     HOST_FILE ":8: jwt_issuers[0].jwks_uri: give jwks_uri or discovery: true, not both"},
    {"discovery of an http issuer",
     "jwt_issuers:\n  - issuer: http://idp.test\n    algorithms: [RS256]\n    audiences: [a]\n    discovery: yes\n",
     HOST_FILE ":5: jwt_issuers[0].discovery: needs an https:// issuer"},
    {"cache file without a source", ISSUER("    audiences: [a]\n    jwks_cache_file: x.json\n"),
     HOST_FILE ":7: jwt_issuers[0].jwks_cache_file: needs jwks_uri or discovery: true"},
    {"cache file in a missing directory", ISSUER("    audiences: [a]\n    discovery: true\n    jwks_cache_file: nope/x.json\n"),
     HOST_FILE ":8: jwt_issuers[0].jwks_cache_file: " FIXTURES "/nope/x.json: its directory does not exist or is not writable"},
    {"unreadable ca_file", ISSUER("    audiences: [a]\n    discovery: true\n    ca_file: nope.crt\n"),
     HOST_FILE ":8: jwt_issuers[0].ca_file: " FIXTURES "/nope.crt: cannot be read"},
    {"min refresh above refresh", ISSUER("    audiences: [a]\n    discovery: true\n    jwks_refresh_s: 20\n"),
     HOST_FILE ":8: jwt_issuers[0].jwks_refresh_s: must be at least jwks_min_refresh_s (30)"},
    {"min refresh above a given refresh",
     ISSUER("    audiences: [a]\n    discovery: true\n    jwks_refresh_s: 20\n    jwks_min_refresh_s: 21\n"),
     HOST_FILE ":9: jwt_issuers[0].jwks_min_refresh_s: must not exceed jwks_refresh_s (20)"},
    {"refresh out of range", ISSUER("    audiences: [a]\n    discovery: true\n    jwks_refresh_s: 0\n"),
     HOST_FILE ":8: jwt_issuers[0].jwks_refresh_s: 0 is out of range [1, 86400]"},
    {"fetch timeout out of range", ISSUER("    audiences: [a]\n    discovery: true\n    jwks_fetch_timeout_ms: 10\n"),
     HOST_FILE ":8: jwt_issuers[0].jwks_fetch_timeout_ms: 10 is out of range [100, 60000]"},
    {"no keys at all", "jwt_issuers:\n  - issuer: https://a.test\n    algorithms: [RS256]\n    audiences: [a]\n",
     HOST_FILE ":2: jwt_issuers[0]: needs jwks_file or hmac_secret_file, or keys from the provider (jwks_uri or discovery: true)"},
};

static void test_invalid_configs(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i != sizeof(invalid) / sizeof(invalid[0]); ++i) {
        char err[1024] = "";
        sc_jwt_issuers_t is;
        int rc = sc_jwt_issuers_load_string(invalid[i].yaml, strlen(invalid[i].yaml), HOST_FILE, &is, err, sizeof(err));
        if (rc == 0 || strstr(err, invalid[i].expected) == NULL) {
            print_error("case \"%s\": expected error containing\n  %s\ngot\n  %s\n", invalid[i].name, invalid[i].expected,
                        rc == 0 ? "(loaded)" : err);
            ++failures;
        }
        if (rc == 0)
            sc_jwt_issuers_free(&is);
        assert_int_equal(is.count, 0);
    }
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cognito_access_token), cmocka_unit_test(test_id_token_and_token_use),
        cmocka_unit_test(test_scopes_claims),        cmocka_unit_test(test_fetched_keys),
        cmocka_unit_test(test_remote_settings),      cmocka_unit_test(test_invalid_configs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
