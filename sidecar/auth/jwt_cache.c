#include "jwt_cache.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#define DIGEST_LEN 32

typedef struct entry {
    unsigned char digest[DIGEST_LEN];
    int used;
    sc_jwt_claims_t claims;
} entry_t;

/*
 * The entries form a ring in insertion order: `next` is the slot written next, which holds the
 * oldest entry once the ring has wrapped, so eviction is FIFO and costs nothing to track. An
 * entry dropped early (expired) leaves a hole that is refilled when the ring comes round.
 *
 * `index` maps digests to entries: open addressing with linear probing, at most half full,
 * deletions by backward shift (no tombstones). The digests are SHA-256 of tokens that verified,
 * so their bits are uniform and cannot be steered by a client.
 */
struct sc_jwt_cache {
    EVP_MD *sha256;
    EVP_MD_CTX *md_ctx; /* reused: a digest context per lookup would be set up and torn down each time */
    entry_t *entries;
    size_t capacity, next, count;
    size_t touched; /* entries [0, touched) have been written: clearing stops there, so a large,
                       mostly unused ring (calloc'd, never touched) does not become resident */
    int32_t *index; /* entry number, or -1 */
    size_t mask;
};

static size_t home_slot(const sc_jwt_cache_t *c, const unsigned char *digest)
{
    uint64_t h;
    memcpy(&h, digest, sizeof(h));
    return (size_t)h & c->mask;
}

sc_jwt_cache_t *sc_jwt_cache_create(size_t capacity)
{
    sc_jwt_cache_t *c;
    size_t slots = 2;

    if (capacity == 0 || capacity > SC_JWT_CACHE_MAX_CAPACITY || (c = calloc(1, sizeof(*c))) == NULL)
        return NULL;
    while (slots < 2 * capacity)
        slots *= 2;
    c->capacity = capacity;
    c->mask = slots - 1;
    if ((c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL || (c->md_ctx = EVP_MD_CTX_new()) == NULL ||
        (c->entries = calloc(capacity, sizeof(*c->entries))) == NULL || (c->index = malloc(slots * sizeof(*c->index))) == NULL) {
        ERR_clear_error();
        sc_jwt_cache_free(c);
        return NULL;
    }
    memset(c->index, 0xff, slots * sizeof(*c->index));
    return c;
}

void sc_jwt_cache_clear(sc_jwt_cache_t *c)
{
    for (size_t i = 0; i != c->touched; ++i) {
        if (c->entries[i].used)
            sc_jwt_claims_free(&c->entries[i].claims);
        c->entries[i].used = 0;
    }
    memset(c->index, 0xff, (c->mask + 1) * sizeof(*c->index));
    c->count = c->next = 0;
}

void sc_jwt_cache_free(sc_jwt_cache_t *c)
{
    if (c == NULL)
        return;
    if (c->entries != NULL && c->index != NULL)
        sc_jwt_cache_clear(c);
    free(c->entries);
    free(c->index);
    EVP_MD_CTX_free(c->md_ctx);
    EVP_MD_free(c->sha256);
    free(c);
}

size_t sc_jwt_cache_count(const sc_jwt_cache_t *c)
{
    return c->count;
}

static int digest_token(const sc_jwt_cache_t *c, const char *token, size_t len, unsigned char *digest)
{
    if (EVP_DigestInit_ex2(c->md_ctx, c->sha256, NULL) != 1 || EVP_DigestUpdate(c->md_ctx, token, len) != 1 ||
        EVP_DigestFinal_ex(c->md_ctx, digest, NULL) != 1) {
        ERR_clear_error();
        return -1;
    }
    return 0;
}

/* The index slot holding this digest, or the empty slot where it would go; *found says which. */
static size_t find_slot(const sc_jwt_cache_t *c, const unsigned char *digest, int *found)
{
    for (size_t i = home_slot(c, digest);; i = (i + 1) & c->mask) {
        int32_t e = c->index[i];
        if (e < 0) {
            *found = 0;
            return i;
        }
        if (CRYPTO_memcmp(c->entries[e].digest, digest, DIGEST_LEN) == 0) {
            *found = 1;
            return i;
        }
    }
}

/* Empties an index slot, moving later members of its probe run back so that none is orphaned. */
static void index_delete(sc_jwt_cache_t *c, size_t hole)
{
    c->index[hole] = -1;
    for (size_t j = (hole + 1) & c->mask; c->index[j] >= 0; j = (j + 1) & c->mask) {
        size_t home = home_slot(c, c->entries[c->index[j]].digest);
        /* the entry at j may fill the hole unless its home lies cyclically in (hole, j] */
        int stays = hole < j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            c->index[hole] = c->index[j];
            c->index[j] = -1;
            hole = j;
        }
    }
}

static void drop(sc_jwt_cache_t *c, size_t slot)
{
    entry_t *e = &c->entries[c->index[slot]];
    index_delete(c, slot);
    sc_jwt_claims_free(&e->claims);
    e->used = 0;
    --c->count;
}

const sc_jwt_claims_t *sc_jwt_cache_lookup(sc_jwt_cache_t *c, const char *token, size_t len, int64_t now)
{
    unsigned char digest[DIGEST_LEN];
    int found;
    if (digest_token(c, token, len, digest) != 0)
        return NULL;
    size_t slot = find_slot(c, digest, &found);
    if (!found)
        return NULL;
    entry_t *e = &c->entries[c->index[slot]];
    if (now >= e->claims.exp) {
        drop(c, slot);
        return NULL;
    }
    return &e->claims;
}

int sc_jwt_cache_insert(sc_jwt_cache_t *c, const char *token, size_t len, const sc_jwt_claims_t *claims)
{
    unsigned char digest[DIGEST_LEN];
    int found;

    if (digest_token(c, token, len, digest) != 0)
        return -1;
    size_t slot = find_slot(c, digest, &found);
    if (found)
        drop(c, slot);
    entry_t *e = &c->entries[c->next];
    if (e->used) {
        int victim_found;
        drop(c, find_slot(c, e->digest, &victim_found));
    }
    if (sc_jwt_claims_copy(&e->claims, claims) != 0)
        return -1;
    memcpy(e->digest, digest, DIGEST_LEN);
    e->used = 1;
    ++c->count;
    /* the eviction above may have moved the empty slot the new digest belongs in */
    slot = find_slot(c, digest, &found);
    c->index[slot] = (int32_t)c->next;
    if (c->next + 1 > c->touched)
        c->touched = c->next + 1;
    c->next = (c->next + 1) % c->capacity;
    return 0;
}
