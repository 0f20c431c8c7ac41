/*
 * jwks_set: one key set fetched from an identity provider, shared by reference between the key
 * refresher and every worker. Immutable once made; the last release frees it. Workers hold one
 * reference each to the set they verify with, so a set replaced by a newer one lives until the
 * last worker has switched (and no request holds a key across an event-loop turn: verification
 * is synchronous).
 */
#ifndef SC_JWKS_SET_H
#define SC_JWKS_SET_H

#include <stddef.h>

#include "jwks.h"

typedef struct sc_jwks_set {
    int refcount; /* atomic */
    sc_jwk_t *keys;
    size_t num_keys;
    char *json; /* the document the keys came from: written to the cache file, compared on refresh */
    size_t json_len;
} sc_jwks_set_t;

/**
 * Parses a JWK Set document (copied) for an issuer whose allowlist is `allowed`. A set is usable
 * only when it holds at least one signature key and no kid twice; `name` (the URL or file) is
 * used in messages. Returns the set with one reference, or NULL with a reason in err.
 */
sc_jwks_set_t *sc_jwks_set_create(const char *json, size_t len, const char *name, unsigned allowed, char *err, size_t errsize);

void sc_jwks_set_retain(sc_jwks_set_t *set);

/* NULL is fine. */
void sc_jwks_set_release(sc_jwks_set_t *set);

/**
 * 1 when the set was made from exactly these bytes.
 */
int sc_jwks_set_same_json(const sc_jwks_set_t *set, const char *json, size_t len);

#endif
