/*
 * jwt_cache: verified tokens, so that a client sending the same bearer token again costs one
 * SHA-256 and a table lookup instead of a signature verification.
 *
 * Keyed by the SHA-256 of the token (the token itself is not kept). Bounded: when full, the
 * oldest entry is evicted. An entry is never returned at or past its token's exp (the exp claim
 * itself, without the issuer's leeway: in the leeway window a full verification decides). Only
 * tokens that verified are stored: there is no negative caching, so garbage cannot fill it.
 *
 * Not thread-safe, by design: one cache per worker thread, no locks. The cached claims point at
 * their issuer: clear the cache (sc_jwt_cache_clear) before the issuers it was filled from are
 * freed, on reload.
 */
#ifndef SC_JWT_CACHE_H
#define SC_JWT_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "jwt.h"

#define SC_JWT_CACHE_MAX_CAPACITY ((size_t)1 << 24)

typedef struct sc_jwt_cache sc_jwt_cache_t;

/**
 * A cache of at most `capacity` tokens (1 to SC_JWT_CACHE_MAX_CAPACITY), or NULL (capacity out
 * of range, or out of memory). Memory is about 100 bytes per entry plus each entry's claims.
 */
sc_jwt_cache_t *sc_jwt_cache_create(size_t capacity);

void sc_jwt_cache_free(sc_jwt_cache_t *cache);

/**
 * The claims cached for this exact token, or NULL when it is not cached or has expired
 * (now >= exp; the entry is then dropped). The claims are borrowed: the pointer is valid until
 * the next call on this cache; copy them (sc_jwt_claims_copy) to keep them longer.
 */
const sc_jwt_claims_t *sc_jwt_cache_lookup(sc_jwt_cache_t *cache, const char *token, size_t len, int64_t now);

/**
 * Stores a copy of the claims of a token that sc_jwt_verify accepted (the caller keeps its own
 * claims). Evicts the oldest entry when the cache is full; replaces the entry of the same token.
 * Returns 0, or -1 when out of memory (nothing is stored then).
 */
int sc_jwt_cache_insert(sc_jwt_cache_t *cache, const char *token, size_t len, const sc_jwt_claims_t *claims);

/**
 * Drops every entry (on reload of the issuers).
 */
void sc_jwt_cache_clear(sc_jwt_cache_t *cache);

/**
 * The number of entries held.
 */
size_t sc_jwt_cache_count(const sc_jwt_cache_t *cache);

#endif
