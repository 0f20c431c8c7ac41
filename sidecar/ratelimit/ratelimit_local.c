/*
 * The table: 2^k buckets of BUCKET_SLOTS entries, allocated once, each bucket with its own mutex
 * (striped locks). A key may live in one of two buckets chosen by its SipHash (two-choice
 * hashing, so a table loaded to 80% almost never finds both full); at most one entry per key
 * exists, because an insertion holds both candidate buckets' locks while it looks and inserts.
 *
 * Why locks per bucket rather than a lock-free entry (a CAS on the TAT): a decision changes the
 * TAT and the daily quota count together (a request refused by the quota consumes no rate, an
 * admitted one consumes both), which is two 64-bit words; without a lock that takes a 128-bit CAS
 * (libatomic, not lock-free on every target) or descriptors, and reusing an evicted entry while
 * another thread still holds a pointer to it needs generation tags on top. A bucket lock held
 * for one GCRA step is contended only by keys of the same bucket (1 in 2^k for two random keys)
 * or by the same key, whose decisions exactness serialises anyway. Memory ordering is the
 * mutexes'; the two counters outside them (size, the sweep hand) are relaxed atomics, because
 * nothing is published through them.
 *
 * Eviction is incremental: from 7/8 of the bound on, each insertion of a new key first examines
 * SWEEP_BUCKETS buckets at a clock hand (FULL_SWEEP_BUCKETS at the bound), one bucket lock at a
 * time, and drops the idle entries it finds; an insertion whose two buckets are full drops their
 * idle entries too. An entry is dropped only when idle (TAT in the past, no quota used in the
 * current day): a fresh entry decides exactly as an idle one would, so nothing in force is lost.
 */
#include "ratelimit_local.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hash.h"

#define BUCKET_SLOTS 8
#define SWEEP_BUCKETS 2
#define FULL_SWEEP_BUCKETS 16
#define MAX_ENTRIES ((size_t)1 << 24)

typedef struct slot {
    uint64_t hash; /* 0: free */
    uint64_t tat;
    uint64_t quota_day;
    uint64_t quota_used;
    char *key; /* not NUL-terminated */
    size_t key_len;
} slot_t;

typedef struct bucket {
    _Alignas(64) pthread_mutex_t lock; /* a bucket starts a cache line: no false sharing */
    slot_t slots[BUCKET_SLOTS];
} bucket_t;

struct sc_ratelimit_local {
    bucket_t *buckets;
    size_t mask; /* number of buckets - 1 */
    size_t max_entries;
    size_t high_water; /* from here on, insertions sweep */
    atomic_size_t size;
    atomic_size_t hand; /* the sweep's clock hand, a bucket index modulo the number of buckets */
    uint64_t sip_key[2];
};

static size_t num_buckets_for(size_t max_entries)
{
    size_t wanted = (max_entries + max_entries / 4 + BUCKET_SLOTS - 1) / BUCKET_SLOTS, n = 1;
    while (n < wanted)
        n <<= 1;
    return n;
}

/* A zeroed mutex is an initialised one where PTHREAD_MUTEX_INITIALIZER is all zeros (glibc). */
static int zero_is_an_initialised_mutex(void)
{
    static const pthread_mutex_t initialiser = PTHREAD_MUTEX_INITIALIZER, zero;
    return memcmp(&initialiser, &zero, sizeof(zero)) == 0;
}

/*
 * The table is mapped, not allocated and cleared: its pages (7 MB for the default 100,000
 * entries) stay out of the process's memory until a bucket is first used. Mapped memory is
 * zeroed and page-aligned, which is all the buckets need.
 */
static bucket_t *map_buckets(size_t n)
{
    void *mem = mmap(NULL, n * sizeof(bucket_t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return NULL;
    bucket_t *buckets = mem;
    if (!zero_is_an_initialised_mutex())
        for (size_t i = 0; i != n; ++i)
            pthread_mutex_init(&buckets[i].lock, NULL);
    return buckets;
}

sc_ratelimit_local_t *sc_ratelimit_local_create(size_t max_entries)
{
    if (max_entries == 0 || max_entries > MAX_ENTRIES)
        return NULL;
    sc_ratelimit_local_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    size_t n = num_buckets_for(max_entries);
    if (RAND_bytes((unsigned char *)t->sip_key, sizeof(t->sip_key)) != 1 || (t->buckets = map_buckets(n)) == NULL) {
        free(t);
        return NULL;
    }
    t->mask = n - 1;
    t->max_entries = max_entries;
    t->high_water = max_entries - max_entries / 8;
    return t;
}

void sc_ratelimit_local_destroy(sc_ratelimit_local_t *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i <= t->mask; ++i) {
        for (size_t j = 0; j != BUCKET_SLOTS; ++j)
            free(t->buckets[i].slots[j].key);
        pthread_mutex_destroy(&t->buckets[i].lock);
    }
    munmap(t->buckets, (t->mask + 1) * sizeof(bucket_t));
    free(t);
}

/* An idle entry decides exactly as a fresh one: its bucket is full again, no quota counts today. */
static int is_idle(const slot_t *s, uint64_t now_ns, uint64_t day)
{
    return s->tat <= now_ns && (s->quota_used == 0 || s->quota_day < day);
}

/* Drops the idle entries of a bucket whose lock the caller holds. */
static void evict_idle(sc_ratelimit_local_t *t, bucket_t *b, uint64_t now_ns, uint64_t day)
{
    for (size_t i = 0; i != BUCKET_SLOTS; ++i) {
        slot_t *s = &b->slots[i];
        if (s->hash != 0 && is_idle(s, now_ns, day)) {
            free(s->key);
            memset(s, 0, sizeof(*s));
            atomic_fetch_sub_explicit(&t->size, 1, memory_order_relaxed);
        }
    }
}

/* Near the bound, examines a few buckets at the clock hand (never the whole table), one lock at a time. */
static void sweep_some(sc_ratelimit_local_t *t, uint64_t now_ns, uint64_t day)
{
    size_t size = atomic_load_explicit(&t->size, memory_order_relaxed);
    if (size < t->high_water)
        return;
    int full = size >= t->max_entries;
    size_t budget = full ? FULL_SWEEP_BUCKETS : SWEEP_BUCKETS;
    if (budget > t->mask + 1)
        budget = t->mask + 1;
    for (size_t i = 0; i != budget; ++i) {
        bucket_t *b = &t->buckets[atomic_fetch_add_explicit(&t->hand, 1, memory_order_relaxed) & t->mask];
        pthread_mutex_lock(&b->lock);
        evict_idle(t, b, now_ns, day);
        pthread_mutex_unlock(&b->lock);
        if (full && atomic_load_explicit(&t->size, memory_order_relaxed) < t->max_entries)
            return; /* room for this insertion: the next ones sweep on */
    }
}

static slot_t *find(bucket_t *b, uint64_t hash, const char *key, size_t len)
{
    for (size_t i = 0; i != BUCKET_SLOTS; ++i) {
        slot_t *s = &b->slots[i];
        if (s->hash == hash && s->key_len == len && memcmp(s->key, key, len) == 0)
            return s;
    }
    return NULL;
}

static size_t free_slots(const bucket_t *b, slot_t **first)
{
    size_t n = 0;
    for (size_t i = BUCKET_SLOTS; i-- != 0;) {
        if (b->slots[i].hash == 0) {
            *first = (slot_t *)&b->slots[i];
            ++n;
        }
    }
    return n;
}

/* A free slot in the emptier of the two buckets, or NULL. */
static slot_t *free_slot(bucket_t *b1, bucket_t *b2)
{
    slot_t *s1 = NULL, *s2 = NULL;
    size_t n1 = free_slots(b1, &s1), n2 = free_slots(b2, &s2);
    return n2 > n1 ? s2 : s1;
}

/* Counts one more entry unless the table is at its bound. */
static int reserve_entry(sc_ratelimit_local_t *t)
{
    size_t n = atomic_load_explicit(&t->size, memory_order_relaxed);
    do {
        if (n >= t->max_entries)
            return 0;
    } while (!atomic_compare_exchange_weak_explicit(&t->size, &n, n + 1, memory_order_relaxed, memory_order_relaxed));
    return 1;
}

/* Inserts a fresh entry in b1 or b2, whose locks the caller holds. NULL: no room. */
static slot_t *insert(sc_ratelimit_local_t *t, bucket_t *b1, bucket_t *b2, uint64_t hash, const char *key, size_t len,
                      uint64_t now_ns, uint64_t day)
{
    slot_t *s = free_slot(b1, b2);
    if (s == NULL) {
        evict_idle(t, b1, now_ns, day);
        if (b2 != b1)
            evict_idle(t, b2, now_ns, day);
        s = free_slot(b1, b2);
    }
    if (s == NULL || !reserve_entry(t))
        return NULL;
    if ((s->key = malloc(len != 0 ? len : 1)) == NULL) {
        atomic_fetch_sub_explicit(&t->size, 1, memory_order_relaxed);
        return NULL;
    }
    memcpy(s->key, key, len);
    s->key_len = len;
    s->hash = hash;
    return s;
}

/* One GCRA step and the daily quota, under the entry's bucket lock. */
static sc_limit_decision_t apply(slot_t *s, sc_gcra_limit_t limit, uint64_t quota, uint64_t now_ns, uint64_t day)
{
    sc_limit_decision_t d = {{0, 0, 0, 0}, 0};
    /* days only move forward: a request stamped just before midnight, decided after one stamped
       just after, counts in the new day rather than bringing back the old one */
    if (day > s->quota_day) {
        s->quota_day = day;
        s->quota_used = 0;
    }
    if (quota != 0 && s->quota_used >= quota) {
        d.quota_exhausted = 1;
        return d;
    }
    d.gcra = sc_gcra_decide(s->tat, now_ns, limit, &s->tat);
    if (d.gcra.allowed && quota != 0)
        ++s->quota_used;
    return d;
}

static void lock_pair(bucket_t *b1, bucket_t *b2)
{
    if (b2 < b1) { /* address order: no deadlock between two insertions */
        bucket_t *tmp = b1;
        b1 = b2;
        b2 = tmp;
    }
    pthread_mutex_lock(&b1->lock);
    if (b2 != b1)
        pthread_mutex_lock(&b2->lock);
}

static void unlock_pair(bucket_t *b1, bucket_t *b2)
{
    if (b2 != b1)
        pthread_mutex_unlock(&b2->lock);
    pthread_mutex_unlock(&b1->lock);
}

typedef struct request {
    uint64_t hash;
    const char *key;
    size_t len;
    sc_gcra_limit_t limit;
    uint64_t quota, now_ns, day;
} request_t;

/* The warm path: one bucket lock, taken only if the key is there. */
static int decide_if_present(bucket_t *b, const request_t *q, sc_limit_decision_t *d)
{
    pthread_mutex_lock(&b->lock);
    slot_t *s = find(b, q->hash, q->key, q->len);
    if (s != NULL)
        *d = apply(s, q->limit, q->quota, q->now_ns, q->day);
    pthread_mutex_unlock(&b->lock);
    return s != NULL;
}

/* A new key (or one that moved between our two looks): both buckets locked, look again, insert. */
static sc_limit_decision_t decide_cold(sc_ratelimit_local_t *t, bucket_t *b1, bucket_t *b2, const request_t *q)
{
    sc_limit_decision_t d = {{0, 0, 0, 0}, 0};
    sweep_some(t, q->now_ns, q->day);
    lock_pair(b1, b2);
    slot_t *s = find(b1, q->hash, q->key, q->len);
    if (s == NULL && b2 != b1)
        s = find(b2, q->hash, q->key, q->len);
    if (s == NULL)
        s = insert(t, b1, b2, q->hash, q->key, q->len, q->now_ns, q->day);
    if (s != NULL)
        d = apply(s, q->limit, q->quota, q->now_ns, q->day);
    else
        d.gcra.retry_after_ns = 1000000000ULL; /* no room: refuse rather than let it through unlimited */
    unlock_pair(b1, b2);
    return d;
}

sc_limit_decision_t sc_ratelimit_local_decide(sc_ratelimit_local_t *t, const char *key, size_t len, sc_gcra_limit_t limit,
                                              uint64_t quota, uint64_t now_ns, uint64_t day)
{
    request_t q = {sc_hash_siphash(t->sip_key, key, len), key, len, limit, quota, now_ns, day};
    if (q.hash == 0)
        q.hash = 1; /* 0 marks a free slot */
    bucket_t *b1 = &t->buckets[q.hash & t->mask], *b2 = &t->buckets[(q.hash >> 32) & t->mask];
    if (b2 == b1)
        b2 = &t->buckets[(q.hash ^ 1) & t->mask]; /* the same bucket when there is only one */
    sc_limit_decision_t d;
    if (decide_if_present(b1, &q, &d) || (b2 != b1 && decide_if_present(b2, &q, &d)))
        return d;
    return decide_cold(t, b1, b2, &q);
}

size_t sc_ratelimit_local_size(sc_ratelimit_local_t *t)
{
    return atomic_load_explicit(&t->size, memory_order_relaxed);
}
