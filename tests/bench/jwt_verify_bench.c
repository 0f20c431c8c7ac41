/*
 * Throughput of sc_jwt_verify on the fixture tokens (not a test: nothing is asserted). For each
 * algorithm: ROUNDS rounds of N verifications, wall clock (CLOCK_MONOTONIC), median round in
 * microseconds per call; plus the signature check alone (sc_jwks_key_verify) and a jwt_cache hit.
 *
 *     cmake --build build --target sidecar_core
 *     cc -O2 -Isidecar/auth -Isidecar/util -Isidecar/config -Ibuild/generated tests/bench/jwt_verify_bench.c \
 *        build/libsidecar_core.a $(pkg-config --libs openssl jansson yaml-0.1) -o build/jwt_verify_bench
 *     ./build/jwt_verify_bench [N]        # from the repository root
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "jwt.h"
#include "jwt_cache.h"
#include "jwt_issuers.h"
#include "base64url.h"

#define FIXTURES "tests/fixtures/jwt"
#define NOW 2000000000
#define ROUNDS 3

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef enum { FULL, SIGNATURE_ONLY, CACHE_HIT } mode_t_;

static double median_us(const sc_jwt_issuers_t *is, sc_jwt_cache_t *cache, const char *token, mode_t_ mode, long n)
{
    double rounds[ROUNDS];
    size_t len = strlen(token);
    const char *dot2 = strrchr(token, '.');
    unsigned char sig[1024];
    size_t sig_len = 0;
    sc_jwt_claims_t claims;
    const sc_jwk_t *key = NULL;

    if (sc_jwt_verify(is, token, len, NOW, &claims) != SC_JWT_OK) {
        fprintf(stderr, "token does not verify\n");
        exit(1);
    }
    if (mode == SIGNATURE_ONLY) {
        key = &claims.issuer->keys[0];
        for (size_t i = 0; i != claims.issuer->num_keys; ++i) /* the key that verifies this token */
            if (sc_base64url_decode(dot2 + 1, strlen(dot2 + 1), sig, sizeof(sig), &sig_len) == 0 &&
                sc_jwks_key_verify(&claims.issuer->keys[i], (const unsigned char *)token, (size_t)(dot2 - token), sig, sig_len) ==
                    1)
                key = &claims.issuer->keys[i];
    }
    if (mode == CACHE_HIT)
        sc_jwt_cache_insert(cache, token, len, &claims);
    sc_jwt_claims_free(&claims);

    for (int r = 0; r != ROUNDS; ++r) {
        double start = now_us();
        for (long i = 0; i != n; ++i) {
            switch (mode) {
            case FULL:
                if (sc_jwt_verify(is, token, len, NOW, &claims) != SC_JWT_OK)
                    exit(1);
                sc_jwt_claims_free(&claims);
                break;
            case SIGNATURE_ONLY:
                if (sc_jwks_key_verify(key, (const unsigned char *)token, (size_t)(dot2 - token), sig, sig_len) != 1)
                    exit(1);
                break;
            case CACHE_HIT:
                if (sc_jwt_cache_lookup(cache, token, len, NOW) == NULL)
                    exit(1);
                break;
            }
        }
        rounds[r] = (now_us() - start) / (double)n;
    }
    qsort(rounds, ROUNDS, sizeof(rounds[0]), cmp_double);
    return rounds[ROUNDS / 2];
}

int main(int argc, char **argv)
{
    static const char *const names[] = {"rs256", "ps256", "es256", "es384", "rs512", "mixed_hs256"};
    long n = argc > 1 ? atol(argv[1]) : 20000;
    char err[1024];
    sc_jwt_issuers_t is;
    json_error_t jerr;
    json_t *tokens = json_load_file(FIXTURES "/tokens.json", 0, &jerr);
    sc_jwt_cache_t *cache = sc_jwt_cache_create(10000);

    if (tokens == NULL || sc_jwt_issuers_load_file(FIXTURES "/issuers.yaml", &is, err, sizeof(err)) != 0) {
        fprintf(stderr, "run from the repository root: %s\n", tokens == NULL ? jerr.text : err);
        return 1;
    }
    printf("%ld calls per round, median of %d rounds, us per call\n", n, ROUNDS);
    printf("%-12s %10s %10s %10s\n", "token", "verify", "sig only", "cache hit");
    for (size_t i = 0; i != sizeof(names) / sizeof(names[0]); ++i) {
        const char *token = json_string_value(json_object_get(tokens, names[i]));
        printf("%-12s %10.2f %10.2f %10.3f\n", names[i], median_us(&is, cache, token, FULL, n),
               median_us(&is, cache, token, SIGNATURE_ONLY, n), median_us(&is, cache, token, CACHE_HIT, n * 10));
    }
    sc_jwt_cache_free(cache);
    sc_jwt_issuers_free(&is);
    json_decref(tokens);
    return 0;
}
