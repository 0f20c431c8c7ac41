/*
 * record_cache: a bounded, least-recently-used map from a string key to a reference-counted
 * record (or to "known absent"), for one worker thread. The tenant store (tenant_store.c)
 * decides freshness and talks to Redis; this file only keeps entries.
 *
 * Keys come from requests (tenant ids, API key hashes), so the hash is SipHash-2-4 with a
 * random per-cache key: an attacker cannot aim many keys at one bucket. The size is bounded:
 * when full, the least recently used entry that has no lookup in flight is evicted.
 *
 * Values are held through sc_cached_t, allocated with h2o's shared allocator: a request that
 * uses a record takes a reference (h2o_mem_link_shared on its pool), so eviction or
 * invalidation never frees a record under a request that is still deciding.
 */
#ifndef SC_RECORD_CACHE_H
#define SC_RECORD_CACHE_H

#include <h2o/linklist.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sc_cached {
    void *record; /* NULL: known absent */
    void (*free_record)(void *record);
} sc_cached_t;

/*
 * One allocation per entry, key included, and no field that is not needed: a worker may hold
 * hundreds of thousands (the hash is not kept; buckets outnumber entries, so chains are short
 * and a lookup compares the few keys of its chain).
 */
typedef struct sc_cache_entry {
    struct sc_cache_entry *next_in_bucket;
    h2o_linklist_t lru;
    sc_cached_t *value;             /* NULL until the first lookup completes */
    uint64_t fetched_at;            /* ms, when value was fetched */
    h2o_linklist_t pending_lookups; /* owned by the store */
    uint32_t epoch;                 /* owned by the store: which subscription the value was read under */
    uint32_t key_len;
    uint8_t pending;  /* a lookup is in flight */
    uint8_t detached; /* removed from the cache while pending: freed when the lookup completes */
    char key[];       /* key_len bytes and a NUL */
} sc_cache_entry_t;

typedef struct sc_record_cache sc_record_cache_t;

sc_record_cache_t *sc_record_cache_create(size_t max_entries);

void sc_record_cache_destroy(sc_record_cache_t *cache);

/**
 * The entry for `key`, or NULL. A hit becomes the most recently used.
 */
sc_cache_entry_t *sc_record_cache_find(sc_record_cache_t *cache, const char *key, size_t len);

/**
 * Adds an empty entry for `key` (which must be absent), evicting if the cache is full. Returns
 * NULL when out of memory.
 */
sc_cache_entry_t *sc_record_cache_insert(sc_record_cache_t *cache, const char *key, size_t len);

/**
 * Replaces the entry's value (the cache keeps one reference to `value`; NULL clears it).
 */
void sc_record_cache_set(sc_cache_entry_t *entry, sc_cached_t *value, uint64_t now);

/**
 * Removes an entry. A pending entry is only detached: its owner frees it with
 * sc_record_cache_free_detached once the lookup completes.
 */
void sc_record_cache_remove(sc_record_cache_t *cache, sc_cache_entry_t *entry);

/**
 * Removes every entry (see sc_record_cache_remove for pending ones).
 */
void sc_record_cache_clear(sc_record_cache_t *cache);

void sc_record_cache_free_detached(sc_cache_entry_t *entry);

size_t sc_record_cache_size(const sc_record_cache_t *cache);

/**
 * Wraps a record for the cache, with one reference owned by the caller. record may be NULL
 * (absent). Like every h2o allocation, aborts when out of memory.
 */
sc_cached_t *sc_record_cache_value_new(void *record, void (*free_record)(void *record));

/**
 * A value whose record lives in the same block, after the wrapper: `record` points at
 * `record_size` bytes (aligned for any type) for the caller to fill, released with the value.
 * One allocation per cached record instead of two or more.
 */
sc_cached_t *sc_record_cache_value_new_packed(size_t record_size);

#endif
