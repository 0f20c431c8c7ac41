/*
 * The table: budgets by rate key in a chained hash of fixed size (entries are few: budgets used
 * in the last period or two, since idle ones are forgotten at each tick), bounded by MAX_ENTRIES
 * so that a flood of tenants cannot grow it without end (past it, requests take the per-request
 * path: sc_ratelimit_lease_wait returns -1). Waiting requests are a FIFO of small nodes,
 * bounded by QUEUE_MAX per budget.
 */
#include "ratelimit_lease.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hash.h"
#include "log.h"
#include "ratelimit_lease_redis.h"

#define BUCKETS 4096 /* a power of two */
#define MAX_ENTRIES 16384
#define QUEUE_MAX 256
#define HOLDER_ID_BYTES 8

typedef struct waiting {
    struct waiting *next;
    sc_ratelimit_lease_cb cb;
    void *data;
} waiting_t;

typedef struct entry {
    struct entry *next; /* in its hash chain */
    h2o_linklist_t all; /* every entry, for the tick */
    sc_ratelimit_lease_table_t *table;
    sc_redis_cluster_t *client; /* the worker's, as given by the last request */
    uint64_t hash;
    char *rate_key, *holders_key, *quota_key; /* quota_key: "" without a quota */
    sc_ratelimit_lease_budget_t budget;
    int acquiring;  /* one acquire in flight at most */
    uint64_t asked; /* ...for this many tokens */
    waiting_t *first, *last;
    size_t queued;
} entry_t;

struct sc_ratelimit_lease_table {
    h2o_evloop_t *loop;
    h2o_timeout_t period;
    h2o_timeout_entry_t tick;
    entry_t *buckets[BUCKETS];
    h2o_linklist_t entries;
    size_t num_entries;
    uint64_t sip_key[2];
    char holder[HOLDER_ID_BYTES * 2 + 1]; /* this worker among the holders of a budget */
    sc_ratelimit_lease_stats_t stats;
};

static void count(uint64_t *counter)
{
    __atomic_store_n(counter, *counter + 1, __ATOMIC_RELAXED); /* the scrape reads from another thread */
}

static void on_tick(h2o_timeout_entry_t *tick);

/* The clock of every budget: the callers' (CLOCK_MONOTONIC), read again where a reply lands. */
static uint64_t clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

sc_ratelimit_lease_table_t *sc_ratelimit_lease_create(h2o_evloop_t *loop)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char id[HOLDER_ID_BYTES];
    sc_ratelimit_lease_table_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    if (RAND_bytes((unsigned char *)t->sip_key, sizeof(t->sip_key)) != 1 || RAND_bytes(id, sizeof(id)) != 1) {
        free(t);
        return NULL;
    }
    for (size_t i = 0; i != sizeof(id); ++i) {
        t->holder[2 * i] = hex[id[i] >> 4];
        t->holder[2 * i + 1] = hex[id[i] & 15];
    }
    t->loop = loop;
    h2o_timeout_init(loop, &t->period, SC_RATELIMIT_LEASE_PERIOD_NS / 1000000);
    t->tick.cb = on_tick;
    h2o_linklist_init_anchor(&t->entries);
    return t;
}

static void free_entry(sc_ratelimit_lease_table_t *t, entry_t *e)
{
    entry_t **p = &t->buckets[e->hash & (BUCKETS - 1)];
    while (*p != e)
        p = &(*p)->next;
    *p = e->next;
    h2o_linklist_unlink(&e->all);
    --t->num_entries;
    free(e->rate_key);
    free(e);
}

void sc_ratelimit_lease_destroy(sc_ratelimit_lease_table_t *t)
{
    if (t == NULL)
        return;
    while (!h2o_linklist_is_empty(&t->entries)) {
        entry_t *e = H2O_STRUCT_FROM_MEMBER(entry_t, all, t->entries.next);
        for (waiting_t *w = e->first, *next; w != NULL; w = next) {
            next = w->next;
            free(w);
        }
        free_entry(t, e);
    }
    if (h2o_timeout_is_linked(&t->tick))
        h2o_timeout_unlink(&t->tick);
    h2o_timeout_dispose(t->loop, &t->period);
    free(t);
}

void sc_ratelimit_lease_count_alone(sc_ratelimit_lease_table_t *t)
{
    count(&t->stats.alone);
}

void sc_ratelimit_lease_add_stats(const sc_ratelimit_lease_table_t *t, sc_ratelimit_lease_stats_t *sum)
{
    sum->acquires += __atomic_load_n(&t->stats.acquires, __ATOMIC_RELAXED);
    sum->returns += __atomic_load_n(&t->stats.returns, __ATOMIC_RELAXED);
    sum->local += __atomic_load_n(&t->stats.local, __ATOMIC_RELAXED);
    sum->alone += __atomic_load_n(&t->stats.alone, __ATOMIC_RELAXED);
}

static entry_t *find(sc_ratelimit_lease_table_t *t, const char *rate_key, uint64_t *hash)
{
    *hash = sc_hash_siphash(t->sip_key, rate_key, strlen(rate_key));
    for (entry_t *e = t->buckets[*hash & (BUCKETS - 1)]; e != NULL; e = e->next)
        if (e->hash == *hash && strcmp(e->rate_key, rate_key) == 0)
            return e;
    return NULL;
}

/* The three key names in one allocation; the quota key's room is the largest, since its day changes. */
static int copy_keys(entry_t *e, const sc_ratelimit_lease_key_t *k)
{
    size_t rl = strlen(k->rate_key) + 1, hl = strlen(k->holders_key) + 1;
    if ((e->rate_key = malloc(rl + hl + SC_SCHEMA_KEY_MAX)) == NULL)
        return -1;
    e->holders_key = e->rate_key + rl;
    e->quota_key = e->holders_key + hl;
    memcpy(e->rate_key, k->rate_key, rl);
    memcpy(e->holders_key, k->holders_key, hl);
    return 0;
}

static entry_t *insert(sc_ratelimit_lease_table_t *t, const sc_ratelimit_lease_key_t *k, uint64_t hash)
{
    entry_t *e;
    if (t->num_entries >= MAX_ENTRIES || (e = calloc(1, sizeof(*e))) == NULL)
        return NULL;
    if (copy_keys(e, k) != 0) {
        free(e);
        return NULL;
    }
    e->table = t;
    e->hash = hash;
    e->next = t->buckets[hash & (BUCKETS - 1)];
    t->buckets[hash & (BUCKETS - 1)] = e;
    h2o_linklist_insert(&t->entries, &e->all);
    ++t->num_entries;
    e->quota_key[0] = '\0';
    sc_ratelimit_lease_budget_init(&e->budget, k->limit, k->quota, k->day);
    if (!h2o_timeout_is_linked(&t->tick))
        h2o_timeout_link(t->loop, &t->period, &t->tick);
    return e;
}

/* A changed limit or a new day starts a fresh budget. What the old one held is not given back:
 * it was taken under another limit (or for another day's quota), and is a few tokens at most. */
static void follow_key(entry_t *e, const sc_ratelimit_lease_key_t *k)
{
    if (!sc_ratelimit_lease_budget_matches(&e->budget, k->limit, k->quota, k->day))
        sc_ratelimit_lease_budget_init(&e->budget, k->limit, k->quota, k->day);
    if (k->quota_key == NULL)
        e->quota_key[0] = '\0';
    else if (strcmp(e->quota_key, k->quota_key) != 0)
        snprintf(e->quota_key, SC_SCHEMA_KEY_MAX, "%s", k->quota_key);
}

int sc_ratelimit_lease_decide(sc_ratelimit_lease_table_t *t, const sc_ratelimit_lease_key_t *key, uint64_t now_ns,
                              sc_limit_decision_t *decision)
{
    uint64_t hash;
    entry_t *e = find(t, key->rate_key, &hash);
    if (e == NULL || e->acquiring)
        return 0; /* nothing held yet, or others wait already: first come, first served */
    follow_key(e, key);
    if (sc_ratelimit_lease_budget_spend(&e->budget, now_ns, decision) == SC_RATELIMIT_LEASE_EMPTY)
        return 0;
    count(&t->stats.local);
    return 1;
}

static int send_acquire(entry_t *e, uint64_t now_ns);

/* Hands each waiting request its decision, in order, while the lease can decide. */
static void serve_queue(entry_t *e, uint64_t now_ns)
{
    while (e->first != NULL) {
        sc_limit_decision_t d;
        sc_ratelimit_lease_outcome_t outcome = sc_ratelimit_lease_budget_spend(&e->budget, now_ns, &d);
        if (outcome == SC_RATELIMIT_LEASE_EMPTY)
            break;
        waiting_t *w = e->first;
        if ((e->first = w->next) == NULL)
            e->last = NULL;
        --e->queued;
        if (!w->cb(w->data, &d, NULL) && outcome == SC_RATELIMIT_LEASE_SPENT) {
            ++e->budget.tokens; /* the request is gone: its token was not used */
            --e->budget.spent_period;
            --e->budget.spent_since_acquire;
        }
        free(w);
    }
}

/* Redis could not answer: every waiting request is decided another way (locally). The queue is
 * detached first, so that a request queued from inside a callback starts a queue of its own. */
static void fail_queue(entry_t *e, const char *err)
{
    waiting_t *w = e->first;
    e->first = e->last = NULL;
    e->queued = 0;
    while (w != NULL) {
        waiting_t *next = w->next;
        w->cb(w->data, NULL, err);
        free(w);
        w = next;
    }
}

static void on_acquired(void *data, const sc_ratelimit_lease_grant_t *grant, const char *err)
{
    entry_t *e = data;
    uint64_t now_ns = clock_ns();
    e->acquiring = 0;
    if (grant == NULL) {
        fail_queue(e, err);
        return;
    }
    sc_ratelimit_lease_budget_granted(&e->budget, grant, now_ns);
    serve_queue(e, now_ns);
    /* more waited than the grant covered (unless a decision handed out above started an acquire) */
    if (e->first != NULL && !e->acquiring && send_acquire(e, now_ns) != 0)
        fail_queue(e, "not connected");
}

static sc_ratelimit_lease_call_t call_of(const entry_t *e, uint64_t need, uint64_t want, uint64_t give_back)
{
    const sc_ratelimit_lease_budget_t *b = &e->budget;
    return (sc_ratelimit_lease_call_t){.rate_key = e->rate_key,
                                       .holders_key = e->holders_key,
                                       .quota_key = e->quota_key[0] != '\0' ? e->quota_key : NULL,
                                       .holder = e->table->holder,
                                       .limit = b->limit,
                                       .quota = b->quota,
                                       .need = need,
                                       .want = want,
                                       .give_back = give_back};
}

static int send_acquire(entry_t *e, uint64_t now_ns)
{
    e->asked = sc_ratelimit_lease_budget_want(&e->budget, now_ns, e->queued);
    sc_ratelimit_lease_call_t call = call_of(e, e->queued, e->asked, 0);
    if (sc_ratelimit_lease_redis_call(e->client, &call, on_acquired, e) != 0)
        return -1;
    e->acquiring = 1;
    count(&e->table->stats.acquires);
    return 0;
}

int sc_ratelimit_lease_wait(sc_ratelimit_lease_table_t *t, sc_redis_cluster_t *client, const sc_ratelimit_lease_key_t *key,
                            uint64_t now_ns, sc_ratelimit_lease_cb cb, void *data)
{
    uint64_t hash;
    entry_t *e = find(t, key->rate_key, &hash);
    if (e == NULL && (e = insert(t, key, hash)) == NULL)
        return -1;
    if (e->queued >= QUEUE_MAX)
        return -1;
    waiting_t *w = malloc(sizeof(*w));
    if (w == NULL)
        return -1;
    *w = (waiting_t){NULL, cb, data};
    if (!e->acquiring) {
        follow_key(e, key);
        e->client = client;
    }
    if (e->last != NULL)
        e->last->next = w;
    else
        e->first = w;
    e->last = w;
    ++e->queued;
    if (!e->acquiring && send_acquire(e, now_ns) != 0) {
        e->last = NULL; /* w was the only one: nothing waits without an acquire in flight */
        e->first = NULL;
        e->queued = 0;
        free(w);
        return -1;
    }
    return 0;
}

static void on_given_back(void *data, const sc_ratelimit_lease_grant_t *grant, const char *err)
{
    (void)data;
    (void)grant;
    (void)err; /* best effort: tokens not given back are the other holders' loss until the bucket refills */
}

/* Gives back what the last period did not need; forgets the budget when it holds nothing. */
static void rebalance(sc_ratelimit_lease_table_t *t, entry_t *e, uint64_t now_ns)
{
    if (e->acquiring)
        return; /* its reply will decide; the next tick looks again */
    int unused = e->budget.spent_period == 0;
    uint64_t back = sc_ratelimit_lease_budget_rebalance(&e->budget);
    if (back != 0) {
        sc_ratelimit_lease_call_t call = call_of(e, 0, 0, back);
        if (sc_ratelimit_lease_redis_call(e->client, &call, on_given_back, NULL) == 0)
            count(&t->stats.returns);
    }
    if (unused && sc_ratelimit_lease_budget_idle(&e->budget, now_ns))
        free_entry(t, e); /* kept while used, so that its demand and holders stay known */
}

void sc_ratelimit_lease_give_back_all(sc_ratelimit_lease_table_t *t)
{
    for (h2o_linklist_t *node = t->entries.next; node != &t->entries; node = node->next) {
        entry_t *e = H2O_STRUCT_FROM_MEMBER(entry_t, all, node);
        if (e->acquiring || e->budget.tokens == 0)
            continue;
        sc_ratelimit_lease_call_t call = call_of(e, 0, 0, e->budget.tokens);
        e->budget.tokens = 0;
        if (sc_ratelimit_lease_redis_call(e->client, &call, on_given_back, NULL) == 0)
            count(&t->stats.returns);
    }
}

static void on_tick(h2o_timeout_entry_t *tick)
{
    sc_ratelimit_lease_table_t *t = H2O_STRUCT_FROM_MEMBER(sc_ratelimit_lease_table_t, tick, tick);
    uint64_t now_ns = clock_ns();
    for (h2o_linklist_t *node = t->entries.next, *next; node != &t->entries; node = next) {
        next = node->next;
        rebalance(t, H2O_STRUCT_FROM_MEMBER(entry_t, all, node), now_ns);
    }
    if (!h2o_linklist_is_empty(&t->entries))
        h2o_timeout_link(t->loop, &t->period, &t->tick);
}
