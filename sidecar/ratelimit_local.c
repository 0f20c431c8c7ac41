#include "ratelimit_local.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

typedef struct entry {
    struct entry *next;
    uint64_t hash;
    uint64_t tat;
    uint64_t quota_day;
    uint64_t quota_used;
    size_t key_len;
    char key[]; /* not NUL-terminated */
} entry_t;

struct sc_ratelimit_local {
    pthread_mutex_t lock;
    entry_t **buckets;
    size_t num_buckets;
    size_t size;
    size_t max_entries;
    uint64_t sip_key[2];
};

sc_ratelimit_local_t *sc_ratelimit_local_create(size_t max_entries)
{
    sc_ratelimit_local_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->num_buckets = 1024;
    while (t->num_buckets < max_entries && t->num_buckets < ((size_t)1 << 22))
        t->num_buckets <<= 1;
    t->max_entries = max_entries;
    if ((t->buckets = calloc(t->num_buckets, sizeof(*t->buckets))) == NULL ||
        RAND_bytes((unsigned char *)t->sip_key, sizeof(t->sip_key)) != 1) {
        free(t->buckets);
        free(t);
        return NULL;
    }
    pthread_mutex_init(&t->lock, NULL);
    return t;
}

void sc_ratelimit_local_destroy(sc_ratelimit_local_t *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i != t->num_buckets; ++i) {
        for (entry_t *e = t->buckets[i], *next; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
    }
    pthread_mutex_destroy(&t->lock);
    free(t->buckets);
    free(t);
}

/* Drops the entries that are as good as absent: bucket full again, quota day over. */
static void sweep_idle(sc_ratelimit_local_t *t, uint64_t now_ns, uint64_t day)
{
    for (size_t i = 0; i != t->num_buckets; ++i) {
        entry_t **slot = &t->buckets[i];
        while (*slot != NULL) {
            entry_t *e = *slot;
            if (e->tat <= now_ns && (e->quota_used == 0 || e->quota_day != day)) {
                *slot = e->next;
                free(e);
                --t->size;
            } else {
                slot = &e->next;
            }
        }
    }
}

static entry_t *find_or_add(sc_ratelimit_local_t *t, const char *key, size_t len, uint64_t now_ns, uint64_t day)
{
    uint64_t hash = sc_siphash(t->sip_key, key, len);
    entry_t **bucket = &t->buckets[hash & (t->num_buckets - 1)];
    for (entry_t *e = *bucket; e != NULL; e = e->next)
        if (e->hash == hash && e->key_len == len && memcmp(e->key, key, len) == 0)
            return e;
    if (t->size >= t->max_entries)
        sweep_idle(t, now_ns, day);
    if (t->size >= t->max_entries)
        return NULL;
    entry_t *e = calloc(1, sizeof(*e) + len);
    if (e == NULL)
        return NULL;
    e->hash = hash;
    e->key_len = len;
    memcpy(e->key, key, len);
    e->next = *bucket;
    *bucket = e;
    ++t->size;
    return e;
}

sc_limit_decision_t sc_ratelimit_local_decide(sc_ratelimit_local_t *t, const char *key, size_t len, sc_gcra_limit_t limit,
                                              uint64_t quota, uint64_t now_ns, uint64_t day)
{
    sc_limit_decision_t d = {{0, 0, 0, 0}, 0};
    pthread_mutex_lock(&t->lock);
    entry_t *e = find_or_add(t, key, len, now_ns, day);
    if (e == NULL) {
        /* every slot holds a limit in force: refuse rather than let a request through unlimited */
        d.gcra.retry_after_ns = 1000000000ULL;
        goto Exit;
    }
    if (e->quota_day != day) {
        e->quota_day = day;
        e->quota_used = 0;
    }
    if (quota != 0 && e->quota_used >= quota) {
        d.quota_exhausted = 1;
        goto Exit;
    }
    d.gcra = sc_gcra_decide(e->tat, now_ns, limit, &e->tat);
    if (d.gcra.allowed && quota != 0)
        ++e->quota_used;
Exit:
    pthread_mutex_unlock(&t->lock);
    return d;
}

size_t sc_ratelimit_local_size(sc_ratelimit_local_t *t)
{
    pthread_mutex_lock(&t->lock);
    size_t n = t->size;
    pthread_mutex_unlock(&t->lock);
    return n;
}
