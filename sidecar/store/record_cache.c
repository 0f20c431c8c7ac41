#include "record_cache.h"

#include "hash.h"

#include <h2o/memory.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct sc_record_cache {
    sc_cache_entry_t **buckets;
    size_t num_buckets; /* a power of two */
    size_t size;
    size_t max_entries;
    h2o_linklist_t lru; /* most recent first */
    uint64_t sip_key[2];
};

/* ------------------------------------------------------------------ values */

static void on_cached_dispose(void *p)
{
    sc_cached_t *c = p;
    if (c->record != NULL && c->free_record != NULL)
        c->free_record(c->record);
}

sc_cached_t *sc_record_cache_value_new(void *record, void (*free_record)(void *record))
{
    sc_cached_t *c = h2o_mem_alloc_shared(NULL, sizeof(*c), on_cached_dispose);
    c->record = record;
    c->free_record = free_record;
    return c;
}

/* The record starts at the first offset past the wrapper that any type may start at. */
#define PACKED_RECORD_OFFSET ((sizeof(sc_cached_t) + _Alignof(max_align_t) - 1) / _Alignof(max_align_t) * _Alignof(max_align_t))

sc_cached_t *sc_record_cache_value_new_packed(size_t record_size)
{
    sc_cached_t *c = h2o_mem_alloc_shared(NULL, PACKED_RECORD_OFFSET + record_size, on_cached_dispose);
    c->record = (char *)c + PACKED_RECORD_OFFSET;
    c->free_record = NULL; /* nothing of its own to free: it goes with the block */
    return c;
}

/* ------------------------------------------------------------------ the table */

sc_record_cache_t *sc_record_cache_create(size_t max_entries)
{
    sc_record_cache_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->num_buckets = 64;
    while (c->num_buckets < max_entries && c->num_buckets < ((size_t)1 << 24))
        c->num_buckets <<= 1;
    if ((c->buckets = calloc(c->num_buckets, sizeof(*c->buckets))) == NULL) {
        free(c);
        return NULL;
    }
    c->max_entries = max_entries;
    h2o_linklist_init_anchor(&c->lru);
    if (RAND_bytes((unsigned char *)c->sip_key, sizeof(c->sip_key)) != 1) {
        free(c->buckets);
        free(c);
        return NULL;
    }
    return c;
}

static sc_cache_entry_t **bucket_of(sc_record_cache_t *c, uint64_t hash)
{
    return &c->buckets[hash & (c->num_buckets - 1)];
}

static void unlink_entry(sc_record_cache_t *c, sc_cache_entry_t *e)
{
    sc_cache_entry_t **slot = bucket_of(c, sc_hash_siphash(c->sip_key, e->key, e->key_len));
    while (*slot != e)
        slot = &(*slot)->next_in_bucket;
    *slot = e->next_in_bucket;
    h2o_linklist_unlink(&e->lru);
    --c->size;
}

static void free_entry(sc_cache_entry_t *e)
{
    if (e->value != NULL)
        h2o_mem_release_shared(e->value);
    free(e);
}

sc_cache_entry_t *sc_record_cache_find(sc_record_cache_t *c, const char *key, size_t len)
{
    uint64_t hash = sc_hash_siphash(c->sip_key, key, len);
    for (sc_cache_entry_t *e = *bucket_of(c, hash); e != NULL; e = e->next_in_bucket) {
        /* keys hold SHA-256 digests of API keys: compared in constant time all the same */
        if (e->key_len == len && CRYPTO_memcmp(e->key, key, len) == 0) {
            h2o_linklist_unlink(&e->lru);
            h2o_linklist_insert(c->lru.next, &e->lru);
            return e;
        }
    }
    return NULL;
}

/* Evicts the least recently used entry that has no lookup in flight; 0 when there is none. */
static int evict_one(sc_record_cache_t *c)
{
    for (h2o_linklist_t *l = c->lru.prev; l != &c->lru; l = l->prev) {
        sc_cache_entry_t *e = H2O_STRUCT_FROM_MEMBER(sc_cache_entry_t, lru, l);
        if (!e->pending) {
            unlink_entry(c, e);
            free_entry(e);
            return 1;
        }
    }
    return 0;
}

sc_cache_entry_t *sc_record_cache_insert(sc_record_cache_t *c, const char *key, size_t len)
{
    if (len > UINT32_MAX)
        return NULL;
    sc_cache_entry_t *e = calloc(1, offsetof(sc_cache_entry_t, key) + len + 1);
    if (e == NULL)
        return NULL;
    /* back to the bound (it can be exceeded only while every entry has a lookup in flight) */
    while (c->size >= c->max_entries && evict_one(c))
        ;
    memcpy(e->key, key, len);
    e->key[len] = '\0';
    e->key_len = (uint32_t)len;
    h2o_linklist_init_anchor(&e->pending_lookups);
    sc_cache_entry_t **slot = bucket_of(c, sc_hash_siphash(c->sip_key, key, len));
    e->next_in_bucket = *slot;
    *slot = e;
    h2o_linklist_insert(c->lru.next, &e->lru);
    ++c->size;
    return e;
}

void sc_record_cache_set(sc_cache_entry_t *e, sc_cached_t *value, uint64_t now)
{
    if (value != NULL)
        h2o_mem_addref_shared(value);
    if (e->value != NULL)
        h2o_mem_release_shared(e->value);
    e->value = value;
    e->fetched_at = now;
}

void sc_record_cache_remove(sc_record_cache_t *c, sc_cache_entry_t *e)
{
    unlink_entry(c, e);
    if (e->pending) {
        e->detached = 1;
        return;
    }
    free_entry(e);
}

void sc_record_cache_clear(sc_record_cache_t *c)
{
    while (!h2o_linklist_is_empty(&c->lru))
        sc_record_cache_remove(c, H2O_STRUCT_FROM_MEMBER(sc_cache_entry_t, lru, c->lru.next));
}

void sc_record_cache_free_detached(sc_cache_entry_t *e)
{
    free_entry(e);
}

size_t sc_record_cache_size(const sc_record_cache_t *c)
{
    return c->size;
}

void sc_record_cache_destroy(sc_record_cache_t *c)
{
    if (c == NULL)
        return;
    sc_record_cache_clear(c);
    free(c->buckets);
    free(c);
}
