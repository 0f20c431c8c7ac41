/*
 * ctl_keygen: new API keys and key ids, from OpenSSL's CSPRNG (RAND_bytes).
 *
 *   key     "psk_" + base64url, unpadded, of 32 random bytes (256 bits; at least 192 required)
 *   key id  "k_" + 12 lower-case hex digits of 6 random bytes (an identifier, not a secret)
 *
 * Only SHA-256(key) is ever stored (sc_schema_hash_key). The key lives in a ctl_new_key_t that
 * the caller wipes with ctl_keygen_wipe as soon as the key has been shown.
 */
#ifndef SC_CTL_KEYGEN_H
#define SC_CTL_KEYGEN_H

#include "schema.h"

#define CTL_KEY_PREFIX "psk_"
#define CTL_KEY_RANDOM_BYTES 32
#define CTL_KEY_LEN (sizeof(CTL_KEY_PREFIX) - 1 + (CTL_KEY_RANDOM_BYTES * 4 + 2) / 3)
#define CTL_KEY_ID_PREFIX "k_"
#define CTL_KEY_ID_RANDOM_BYTES 6
#define CTL_KEY_ID_LEN (sizeof(CTL_KEY_ID_PREFIX) - 1 + CTL_KEY_ID_RANDOM_BYTES * 2)

_Static_assert(CTL_KEY_RANDOM_BYTES * 8 >= 192, "API keys carry at least 192 bits of randomness");

typedef struct ctl_new_key {
    char key[CTL_KEY_LEN + 1]; /* secret */
    char key_id[CTL_KEY_ID_LEN + 1];
    char sha256[SC_SHA256_HEX_LEN + 1];
} ctl_new_key_t;

/**
 * Fills k->key and k->sha256. Returns 0, or -1 when the CSPRNG fails (nothing usable is left).
 */
int ctl_keygen_key(ctl_new_key_t *k);

/**
 * Fills k->key_id. Returns 0 or -1.
 */
int ctl_keygen_key_id(ctl_new_key_t *k);

/**
 * Wipes the whole struct (OPENSSL_cleanse).
 */
void ctl_keygen_wipe(ctl_new_key_t *k);

#endif
