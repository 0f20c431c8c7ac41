/* libFuzzer target: the JWS/JWT parser and verifier (sc_jwt_verify) against the fixture issuers
 * (RSA, RSA-PSS, EC and HMAC keys), with the bytes as the token after "Bearer ". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "jwt.h"
#include "jwt_issuers.h"

static sc_jwt_issuers_t issuers;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[1024];
    (void)argc, (void)argv;
    if (sc_jwt_issuers_load_file(FUZZ_FIXTURES_DIR "/jwt/issuers.yaml", &issuers, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_jwt: %s\n", err);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sc_jwt_claims_t claims;
    /* a fixed time inside the fixture tokens' validity, so that valid seeds reach the claims */
    if (sc_jwt_verify(&issuers, (const char *)data, size, 2000000000, &claims) == SC_JWT_OK)
        sc_jwt_claims_free(&claims);
    return 0;
}
