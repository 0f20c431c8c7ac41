/* sidecarctl token sign: tokens signed by libjwt (ctl_token_jwt.c), an implementation independent
 * of the jose-made fixtures, verify with the sidecar's own verifier (jwt.c); a tampered one or one
 * signed with another key does not. Also: what the token takes from the issuer's configuration,
 * and the key files and algorithms that are refused. Keys and secrets are tests/fixtures/jwt's. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_args.h"
#include "ctl_token.h"
#include "jwt.h"
#include "jwt_issuers.h"

#define FIXTURES TEST_DATA_DIR "/../../fixtures/jwt"
#define KEYS FIXTURES "/keys"
#define NOW 2000000000

#define MAIN "https://idp.example.test"
#define RS_ONLY "https://rs-only.example.test"
#define ACCESS "https://access.example.test"

static const char issuers_yaml[] = "jwt_issuers:\n"
                                   "  - issuer: " MAIN "\n"
                                   "    audiences: ['api://sidecar', langchain]\n"
                                   "    algorithms: [RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384]\n"
                                   "    jwks_file: jwks.json\n"
                                   "    tenant_claim: custom:tenant_id\n"
                                   "  - issuer: " RS_ONLY "\n"
                                   "    audiences: ['api://sidecar']\n"
                                   "    algorithms: [RS256]\n"
                                   "    jwks_file: rs256.jwks.json\n"
                                   "  - issuer: https://hs256.example.test\n"
                                   "    audiences: ['api://sidecar']\n"
                                   "    algorithms: [HS256]\n"
                                   "    hmac_secret_file: hs256.secret\n"
                                   "    hmac_kid: hs-256\n"
                                   "  - issuer: https://hs384.example.test\n"
                                   "    audiences: ['api://sidecar']\n"
                                   "    algorithms: [HS384]\n"
                                   "    hmac_secret_file: hs384.secret\n"
                                   "  - issuer: https://hs512.example.test\n"
                                   "    audiences: ['api://sidecar']\n"
                                   "    algorithms: [HS512]\n"
                                   "    hmac_secret_file: hs512.secret\n"
                                   "  - issuer: " ACCESS "\n"
                                   "    token_use: access\n"
                                   "    client_ids: [app-1]\n"
                                   "    scopes_claims: ['cognito:groups']\n"
                                   "    algorithms: [HS256]\n"
                                   "    hmac_secret_file: hs256.secret\n";

static sc_jwt_issuers_t issuers;

static int setup(void **state)
{
    char err[1024] = "";
    if (sc_jwt_issuers_load_string(issuers_yaml, strlen(issuers_yaml), FIXTURES "/host.yaml", &issuers, err, sizeof(err)) != 0) {
        print_error("loading the issuers: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    sc_jwt_issuers_free(&issuers);
    return 0;
}

#define MAX_WORDS 40

/* Parses "sidecarctl token sign" and the NULL-terminated words, and signs as the issuers say
 * (`configured`) or as if there were no host file. */
static int sign_words(int configured, const char *const *words, ctl_token_t *out, ctl_err_t *err)
{
    char *argv[MAX_WORDS + 1] = {"sidecarctl", "token", "sign"};
    int argc = 3;
    ctl_args_t args;
    for (; words[argc - 3] != NULL && argc < MAX_WORDS; ++argc)
        argv[argc] = (char *)words[argc - 3];
    argv[argc] = NULL;
    memset(err, 0, sizeof(*err));
    int rc = ctl_args_parse(argc, argv, &args, err);
    if (rc == CTL_EXIT_OK)
        rc = ctl_token_make(&args, configured ? &issuers : NULL, NOW, out, err);
    ctl_args_free(&args);
    return rc;
}

#define SIGN(configured, out, err, ...) sign_words((configured), (const char *const[]){__VA_ARGS__, NULL}, (out), (err))

/* Signs a token that must be made; returns the token (heap). */
static char *sign_ok(int configured, const char *const *words, ctl_token_t *info)
{
    ctl_token_t t;
    ctl_err_t err;
    if (sign_words(configured, words, &t, &err) != CTL_EXIT_OK)
        fail_msg("token sign failed: %s", err.msg);
    char *token = t.token;
    if (info != NULL) {
        *info = t;
        info->token = NULL;
    }
    return token;
}

#define SIGN_OK(configured, info, ...) sign_ok((configured), (const char *const[]){__VA_ARGS__, NULL}, (info))

static sc_jwt_result_t verify(const char *token, sc_jwt_claims_t *claims)
{
    return sc_jwt_verify(&issuers, token, strlen(token), NOW, claims);
}

static const char *joined_scopes(const sc_jwt_claims_t *c, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i != c->num_scopes; ++i)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i != 0 ? " " : "", c->scopes[i]);
    return buf;
}

/* ---- every algorithm libjwt signs, verified by jwt.c ------------------------------------------ */

static const struct {
    const char *alg, *key, *issuer, *kid; /* kid: what the configured key says */
} algorithms[] = {
    {"RS256", KEYS "/rs256.key.pem", MAIN, "rsa-rs256"},
    {"RS384", KEYS "/rs384.key.pem", MAIN, "rsa-rs384"},
    {"RS512", KEYS "/rs512.key.pem", MAIN, "rsa-rs512"},
    {"ES256", KEYS "/es256.key.pem", MAIN, "ec-es256"},
    {"ES384", KEYS "/es384.key.pem", MAIN, "ec-es384"},
    {"HS256", FIXTURES "/hs256.secret", "https://hs256.example.test", "hs-256"},
    {"HS384", FIXTURES "/hs384.secret", "https://hs384.example.test", NULL},
    {"HS512", FIXTURES "/hs512.secret", "https://hs512.example.test", NULL},
};

/* Signed with the options alone (no host file): the claims come out as given. */
static void test_each_algorithm_verifies(void **state)
{
    for (size_t i = 0; i != sizeof(algorithms) / sizeof(algorithms[0]); ++i) {
        const char *tenant_claim = strcmp(algorithms[i].issuer, MAIN) == 0 ? "custom:tenant_id" : "tenant_id";
        const char *words[] = {"--issuer", algorithms[i].issuer, "--alg", algorithms[i].alg, "--key-file", algorithms[i].key,
                               "--tenant", "acme", "--sub", "user-1", "--aud", "api://sidecar", "--scopes", "read,write",
                               "--tenant-claim", tenant_claim, "--ttl", "1h",
                               /* the HMAC issuers without hmac_kid: no kid */
                               algorithms[i].kid != NULL ? "--kid" : NULL, algorithms[i].kid, NULL};
        ctl_token_t info;
        char *token = sign_ok(0, words, &info);
        sc_jwt_claims_t c;
        char scopes[128];
        sc_jwt_result_t r = verify(token, &c);
        if (r != SC_JWT_OK)
            fail_msg("%s: %s", algorithms[i].alg, sc_jwt_result_reason(r));
        assert_string_equal(c.issuer->issuer, algorithms[i].issuer);
        assert_string_equal(c.subject, "user-1");
        assert_string_equal(c.tenant, "acme");
        assert_string_equal(joined_scopes(&c, scopes, sizeof(scopes)), "read write");
        assert_int_equal(c.exp, NOW + 3600);
        assert_int_equal(info.exp, NOW + 3600);
        assert_string_equal(sc_jwks_alg_name(info.alg), algorithms[i].alg);
        sc_jwt_claims_free(&c);
        free(token);
    }
}

/* A copy of `token` whose segment `which` (0 header, 1 payload, 2 signature) is `other`'s. */
static char *splice(const char *token, const char *other, int which)
{
    const char *a[4], *b[4];
    a[0] = token, b[0] = other;
    a[1] = strchr(token, '.') + 1, b[1] = strchr(other, '.') + 1;
    a[2] = strchr(a[1], '.') + 1, b[2] = strchr(b[1], '.') + 1;
    a[3] = token + strlen(token) + 1, b[3] = other + strlen(other) + 1;
    char *out = calloc(1, strlen(token) + strlen(other) + 1);
    for (int i = 0; i != 3; ++i) {
        const char *const *src = i == which ? b : a;
        strncat(out, src[i], (size_t)(src[i + 1] - src[i]));
    }
    return out;
}

/* Another tenant's payload under acme's signature, and a signature with one character changed. */
static void test_tampered_tokens_do_not_verify(void **state)
{
    for (size_t i = 0; i != sizeof(algorithms) / sizeof(algorithms[0]); ++i) {
        const char *kid = algorithms[i].kid;
        char *acme = SIGN_OK(1, NULL, "--issuer", algorithms[i].issuer, "--key-file", algorithms[i].key, "--tenant", "acme");
        char *evil = SIGN_OK(1, NULL, "--issuer", algorithms[i].issuer, "--key-file", algorithms[i].key, "--tenant", "evil");
        sc_jwt_claims_t c;
        assert_int_equal(verify(acme, &c), SC_JWT_OK);
        sc_jwt_claims_free(&c);

        char *forged = splice(acme, evil, 1);
        assert_int_equal(verify(forged, &c), SC_JWT_BAD_SIGNATURE);
        free(forged);

        char *sig = strrchr(acme, '.') + 1 + 5; /* not the last character, whose spare bits must be zero */
        *sig = *sig == 'A' ? 'B' : 'A';
        if (verify(acme, &c) != SC_JWT_BAD_SIGNATURE)
            fail_msg("%s (kid %s): a changed signature verified", algorithms[i].alg, kid != NULL ? kid : "none");
        free(acme);
        free(evil);
    }
}

/* The key file is not the issuer's: signed all the same (a test may want a 401), flagged, refused. */
static void test_wrong_key_does_not_verify(void **state)
{
    ctl_token_t info;
    sc_jwt_claims_t c;
    /* rs256-next is in jwks.json but not in rs256.jwks.json */
    char *token = SIGN_OK(1, &info, "--issuer", RS_ONLY, "--key-file", KEYS "/rs256-next.key.pem", "--tenant", "acme");
    assert_true(info.key_unknown);
    assert_null(info.kid);
    assert_int_equal(verify(token, &c), SC_JWT_BAD_SIGNATURE);
    free(token);
    /* presenting the right kid does not help */
    token =
        SIGN_OK(1, &info, "--issuer", RS_ONLY, "--key-file", KEYS "/rs256-next.key.pem", "--tenant", "acme", "--kid", "rsa-rs256");
    assert_int_equal(verify(token, &c), SC_JWT_BAD_SIGNATURE);
    free(token);
    /* an HMAC secret of the right length that is not the issuer's */
    token = SIGN_OK(1, &info, "--issuer", "https://hs256.example.test", "--key-file", FIXTURES "/hs384.secret", "--alg", "HS256",
                    "--tenant", "acme", "--kid", "hs-256");
    assert_true(info.key_unknown);
    assert_int_equal(verify(token, &c), SC_JWT_BAD_SIGNATURE);
    free(token);
}

/* ---- what the host file decides --------------------------------------------------------------- */

static void test_configured_issuer_shapes_the_token(void **state)
{
    ctl_token_t info;
    sc_jwt_claims_t c;
    char scopes[128];
    /* kid of the matching configured key, the issuer's tenant claim, its first audience, ES256
     * because the EC P-256 key suits nothing else */
    char *token = SIGN_OK(1, &info, "--issuer", MAIN, "--key-file", KEYS "/es256.key.pem", "--tenant", "acme", "--scopes", "read");
    assert_false(info.key_unknown);
    assert_string_equal(sc_jwks_alg_name(info.alg), "ES256");
    assert_string_equal(info.kid, "ec-es256"); /* its JWK has no "alg": pinned to ES256 at load, and found */
    assert_int_equal(info.exp, NOW + CTL_TOKEN_DEFAULT_TTL_S);
    assert_int_equal(verify(token, &c), SC_JWT_OK);
    assert_string_equal(c.tenant, "acme");
    assert_int_equal(c.audiences, 1); /* api://sidecar */
    assert_null(c.subject);
    sc_jwt_claims_free(&c);
    free(token);

    /* the configured key's pinned algorithm, not RSA's default RS256 */
    token = SIGN_OK(1, &info, "--issuer", MAIN, "--key-file", KEYS "/rs384.key.pem", "--tenant", "acme", "--aud", "langchain");
    assert_string_equal(sc_jwks_alg_name(info.alg), "RS384");
    assert_string_equal(info.kid, "rsa-rs384");
    assert_int_equal(verify(token, &c), SC_JWT_OK);
    assert_int_equal(c.audiences, 2); /* langchain */
    sc_jwt_claims_free(&c);
    free(token);

    /* an access-token issuer: client_id instead of aud, scopes in its scopes claim */
    token = SIGN_OK(1, &info, "--issuer", ACCESS, "--key-file", FIXTURES "/hs256.secret", "--tenant", "acme", "--scopes",
                    "admin ops", "--claim", "token_use=access");
    assert_int_equal(verify(token, &c), SC_JWT_OK);
    assert_string_equal(joined_scopes(&c, scopes, sizeof(scopes)), "admin ops");
    sc_jwt_claims_free(&c);
    free(token);
    /* --claim client_id replaces the configured one: here a client the issuer does not know */
    token = SIGN_OK(1, &info, "--issuer", ACCESS, "--key-file", FIXTURES "/hs256.secret", "--tenant", "acme", "--claim",
                    "client_id=app-2");
    assert_int_equal(verify(token, &c), SC_JWT_AUDIENCE_MISMATCH);
    free(token);
}

/* ---- refusals --------------------------------------------------------------------------------- */

static const struct {
    int configured;
    const char *words[16];
    int status;
    const char *message; /* a part of it */
} refused[] = {
    {1, {"--issuer", "https://unknown.test", "--key-file", KEYS "/rs256.key.pem", "--tenant", "acme"}, 2, "not an issuer"},
    {1, {"--issuer", RS_ONLY, "--key-file", KEYS "/es256.key.pem", "--tenant", "acme"}, 2, "the issuer allows RS256"},
    {1, {"--issuer", RS_ONLY, "--key-file", KEYS "/rs256.key.pem", "--tenant", "acme", "--alg", "RS512"}, 2, "allows only RS256"},
    {0, {"--issuer", MAIN, "--key-file", KEYS "/rs256.key.pem", "--tenant", "acme", "--alg", "HS256"}, 2, "does not suit"},
    {0, {"--issuer", MAIN, "--key-file", KEYS "/ps256.key.pem", "--tenant", "acme", "--alg", "PS256"}, 2, "libjwt cannot sign"},
    {0, {"--issuer", MAIN, "--key-file", FIXTURES "/hs256.secret", "--tenant", "acme", "--alg", "HS512"}, 2, "does not suit"},
    {0, {"--issuer", MAIN, "--key-file", FIXTURES "/short.secret", "--tenant", "acme"}, 2, "at least 32 bytes"},
    {0, {"--issuer", MAIN, "--key-file", KEYS "/rsa1024.key.pem", "--tenant", "acme"}, 2, "1024 bits"},
    {0, {"--issuer", MAIN, "--key-file", KEYS "/ed25519.key.pem", "--tenant", "acme"}, 2, "neither an RSA nor an EC key"},
    {0, {"--issuer", MAIN, "--key-file", FIXTURES "/rs256.jwks.json", "--tenant", "acme", "--alg", "RS256"}, 2, "does not suit"},
    {0, {"--issuer", MAIN, "--key-file", FIXTURES "/no-such-file", "--tenant", "acme"}, 2, "no-such-file"},
    {0, {"--issuer", MAIN, "--key-file", KEYS "/rs256.key.pem", "--tenant", "acme", "--claim", "tenant_id=x"}, 2, "given twice"},
    {0,
     {"--issuer", MAIN, "--key-file", KEYS "/rs256.key.pem", "--tenant", "acme", "--scopes", "read", "--claim", "scope=x"},
     2,
     "given twice"},
    {1,
     {"--issuer", MAIN, "--key-file", KEYS "/rs256.key.pem", "--tenant", "acme", "--claim", "custom:tenant_id=x"},
     2,
     "given twice"},
};

static void test_refused(void **state)
{
    for (size_t i = 0; i != sizeof(refused) / sizeof(refused[0]); ++i) {
        ctl_token_t t;
        ctl_err_t err;
        int rc = sign_words(refused[i].configured, refused[i].words, &t, &err);
        if (rc != refused[i].status || strstr(err.msg, refused[i].message) == NULL)
            fail_msg("case %zu: exit %d \"%s\"; expected %d \"...%s...\"", i, rc, err.msg, refused[i].status, refused[i].message);
        assert_null(t.token);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_algorithm_verifies),
        cmocka_unit_test(test_tampered_tokens_do_not_verify),
        cmocka_unit_test(test_wrong_key_does_not_verify),
        cmocka_unit_test(test_configured_issuer_shapes_the_token),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
