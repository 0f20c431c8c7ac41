#include "ctl_keygen.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>

/* RFC 4648 section 5, without padding. `out` has room for (len * 4 + 2) / 3 characters and a NUL. */
static void base64url(const unsigned char *in, size_t len, char *out)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0) | (i + 2 < len ? in[i + 2] : 0);
        size_t chars = len - i >= 3 ? 4 : len - i + 1;
        for (size_t c = 0; c != chars; ++c)
            out[o++] = alphabet[(v >> (18 - 6 * c)) & 63];
    }
    out[o] = '\0';
}

int ctl_keygen_key(ctl_new_key_t *k)
{
    unsigned char random[CTL_KEY_RANDOM_BYTES];
    size_t prefix = sizeof(CTL_KEY_PREFIX) - 1;
    int ok = RAND_bytes(random, sizeof(random)) == 1;
    if (ok) {
        memcpy(k->key, CTL_KEY_PREFIX, prefix);
        base64url(random, sizeof(random), k->key + prefix);
        sc_schema_hash_key(k->key, strlen(k->key), k->sha256);
    }
    OPENSSL_cleanse(random, sizeof(random));
    return ok ? 0 : -1;
}

int ctl_keygen_key_id(ctl_new_key_t *k)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char random[CTL_KEY_ID_RANDOM_BYTES];
    size_t prefix = sizeof(CTL_KEY_ID_PREFIX) - 1;
    if (RAND_bytes(random, sizeof(random)) != 1)
        return -1;
    memcpy(k->key_id, CTL_KEY_ID_PREFIX, prefix);
    for (size_t i = 0; i != sizeof(random); ++i) {
        k->key_id[prefix + i * 2] = hex[random[i] >> 4];
        k->key_id[prefix + i * 2 + 1] = hex[random[i] & 15];
    }
    k->key_id[CTL_KEY_ID_LEN] = '\0';
    return 0;
}

void ctl_keygen_wipe(ctl_new_key_t *k)
{
    OPENSSL_cleanse(k, sizeof(*k));
}
