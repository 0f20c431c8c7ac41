/* libFuzzer target: the JWK Set parser (sc_jwks_parse), every algorithm allowed. */
#include <stdint.h>
#include <stdlib.h>

#include "jwks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sc_jwk_t *keys = NULL;
    size_t num_keys = 0;
    char err[512];
    unsigned all = (SC_JWS_ALG_BIT(SC_JWS_ALG_COUNT) - 1) & ~SC_JWS_ALG_BIT(SC_JWS_ALG_INVALID);
    sc_jwks_parse((const char *)data, size, "fuzz.json", all, &keys, &num_keys, err, sizeof(err));
    sc_jwks_free(keys, num_keys);
    return 0;
}
