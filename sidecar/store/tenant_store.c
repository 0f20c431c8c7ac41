#include "tenant_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "log.h"
#include "metrics.h"
#include "redis_subscriber.h"

typedef enum { RECORD_TENANT, RECORD_APIKEY } record_kind_t;

struct sc_tenant_store {
    h2o_evloop_t *loop;
    const sc_redis_config_t *redis_config;
    sc_tenant_store_config_t config;
    sc_redis_cluster_t *redis;
    sc_redis_subscriber_t *subscriber;
    /* Two caches, so that unauthenticated traffic with made-up tenant ids and keys cannot evict
     * the records of real tenants: `cache` holds records that exist; a lookup of anything not in
     * it starts in `probation`, smaller, which keeps "absent" answers and is promoted to `cache`
     * only when Redis returns a record. */
    sc_record_cache_t *cache;
    sc_record_cache_t *probation;
    char channel[SC_SCHEMA_KEY_MAX];
    /* Incremented each time the subscription is made again: a value read under an older epoch
     * may have missed an invalidation, so it is read again before it counts as fresh. */
    uint32_t epoch;
    sc_log_throttle_t malformed_log;
    sc_tenant_store_stats_t stats;
};

/* A lookup waiting on a pending cache entry: its callback, run when the fetch answers. */
typedef struct pending_lookup {
    h2o_linklist_t link;
    sc_tenant_store_cb cb;
    void *data;
} pending_lookup_t;

/* What a lookup in flight needs to finish its job. */
typedef struct fetch {
    sc_tenant_store_t *store;
    sc_cache_entry_t *entry;
    sc_record_cache_t *cache; /* the one holding entry */
    record_kind_t kind;
    char *tenant;
    uint32_t epoch; /* when the command was sent */
} fetch_t;

/* ------------------------------------------------------------------ invalidation */

static size_t cache_key(char *buf, record_kind_t kind, const char *tenant, size_t len, const char *sha256_hex);
static const char *describe(const sc_cache_entry_t *e, char *buf, size_t size);

static void drop_entry(sc_tenant_store_t *s, record_kind_t kind, const sc_invalidation_t *m)
{
    char key[SC_SCHEMA_KEY_MAX];
    size_t len = cache_key(key, kind, m->tenant, m->tenant_len, m->sha256_hex);
    sc_record_cache_t *caches[] = {s->cache, s->probation};
    for (size_t i = 0; i != 2; ++i) {
        sc_cache_entry_t *e = sc_record_cache_find(caches[i], key, len);
        if (e != NULL)
            sc_record_cache_remove(caches[i], e);
    }
}

static void drop_all(sc_tenant_store_t *s)
{
    sc_record_cache_clear(s->cache);
    sc_record_cache_clear(s->probation);
}

void sc_tenant_store_invalidate(sc_tenant_store_t *s, const char *msg, size_t len)
{
    sc_invalidation_t m;
    sc_metrics_count(&s->stats.invalidations);
    if (sc_schema_invalidation_parse(msg, len, &m) != 0) {
        /* a message we cannot read may announce a change all the same: be safe */
        sc_metrics_count(&s->stats.malformed_invalidations);
        sc_log_throttled(&s->malformed_log, SC_LOG_WARN,
                         "tenant store: malformed invalidation message (%zu bytes); dropping the cache", len);
        drop_all(s);
        return;
    }
    switch (m.kind) {
    case SC_INVALIDATE_ALL:
        drop_all(s);
        break;
    case SC_INVALIDATE_TENANT:
        drop_entry(s, RECORD_TENANT, &m);
        break;
    case SC_INVALIDATE_KEY:
        drop_entry(s, RECORD_APIKEY, &m);
        break;
    }
}

/*
 * Messages published while we were not subscribed are lost for good, so every record cached
 * before now is read again. It is not dropped: until the fresh read answers (and, if Redis is
 * not back yet, within max_stale) it is still served, so a restart of Redis is not a blip.
 */
static void on_subscriber_ready(sc_redis_client_t *client, void *data)
{
    sc_tenant_store_t *s = data;
    (void)client;
    sc_metrics_count(&s->stats.flushes);
    ++s->epoch;
}

static void on_subscriber_message(sc_redis_client_t *client, void *data, const char *payload, size_t len)
{
    (void)client;
    sc_tenant_store_invalidate(data, payload, len);
}

static const sc_redis_client_callbacks_t subscriber_callbacks = {
    .on_ready = on_subscriber_ready,
    .on_message = on_subscriber_message,
};

/* ------------------------------------------------------------------ answering pending lookups */

static sc_lookup_t answer_from_entry(const sc_cache_entry_t *e, int stale)
{
    sc_lookup_t r = {SC_LOOKUP_NOT_FOUND, NULL, stale};
    if (e->value != NULL && e->value->record != NULL) {
        r.status = SC_LOOKUP_FOUND;
        r.cached = e->value;
        h2o_mem_addref_shared(r.cached);
    }
    return r;
}

static void answer_pending_lookups(sc_cache_entry_t *e, sc_lookup_t result)
{
    while (!h2o_linklist_is_empty(&e->pending_lookups)) {
        pending_lookup_t *w = H2O_STRUCT_FROM_MEMBER(pending_lookup_t, link, e->pending_lookups.next);
        h2o_linklist_unlink(&w->link);
        sc_lookup_t mine = result;
        if (mine.cached != NULL)
            h2o_mem_addref_shared(mine.cached);
        w->cb(w->data, mine);
        free(w);
    }
    if (result.cached != NULL)
        h2o_mem_release_shared(result.cached);
}

static int within(uint64_t now, uint64_t since, uint64_t span)
{
    return now - since < span;
}

/* Redis could not answer: the cached value if still within max_stale, else "unavailable". */
static sc_lookup_t unavailable_or_stale(sc_tenant_store_t *s, const sc_cache_entry_t *e, uint64_t now)
{
    if (e != NULL && e->value != NULL && within(now, e->fetched_at, s->config.max_stale_ms)) {
        sc_metrics_count(&s->stats.stale_served);
        return answer_from_entry(e, 1);
    }
    sc_metrics_count(&s->stats.unavailable);
    return (sc_lookup_t){SC_LOOKUP_UNAVAILABLE, NULL, 0};
}

/* ------------------------------------------------------------------ fetching */

/* Field/value pairs read from one record: far more than any writer sets. A record with more is
 * refused whole (fails closed): cutting it would drop whatever fields come last, scopes or
 * issuers included. */
#define MAX_RECORD_FIELDS 128

/* HGETALL's reply as strings; anything but an even number of strings, within bounds, is refused. */
static int reply_strings(const redisReply *reply, const char **strs, size_t *lens, char *err, size_t errsize)
{
    if (reply->elements % 2 != 0 || reply->elements > 2 * MAX_RECORD_FIELDS) {
        snprintf(err, errsize, "record with %zu reply elements (at most %d fields)", reply->elements, MAX_RECORD_FIELDS);
        return -1;
    }
    for (size_t i = 0; i != reply->elements; ++i) {
        if (reply->element[i]->type != REDIS_REPLY_STRING) {
            snprintf(err, errsize, "record element %zu is not a string", i);
            return -1;
        }
        strs[i] = reply->element[i]->str;
        lens[i] = reply->element[i]->len;
    }
    return 0;
}

/* The cached copy is one block, record included (see sc_record_cache_value_new_packed); the parsed one goes. */
static sc_cached_t *pack_record(record_kind_t kind, void *record)
{
    sc_cached_t *c;
    if (kind == RECORD_TENANT) {
        c = sc_record_cache_value_new_packed(sc_schema_tenant_packed_size(record));
        sc_schema_tenant_pack(record, c->record);
        sc_schema_tenant_free(record);
    } else {
        c = sc_record_cache_value_new_packed(sc_schema_apikey_packed_size(record));
        sc_schema_apikey_pack(record, c->record);
        sc_schema_apikey_free(record);
    }
    return c;
}

static sc_cached_t *parse_reply(fetch_t *f, const redisReply *reply, sc_lookup_status_t *status)
{
    const char *strs[2 * MAX_RECORD_FIELDS];
    size_t lens[2 * MAX_RECORD_FIELDS];
    char err[256], what[SC_SCHEMA_KEY_MAX + 32];
    void *record = NULL;
    size_t n = reply->elements;
    if (reply_strings(reply, strs, lens, err, sizeof(err)) != 0) {
        sc_log_error("tenant store: %s (%s)", err, describe(f->entry, what, sizeof(what)));
        *status = SC_LOOKUP_INVALID;
        return NULL;
    }
    int rc = f->kind == RECORD_TENANT
                 ? sc_schema_tenant_parse(f->tenant, strs, lens, n, (sc_tenant_record_t **)&record, err, sizeof(err))
                 : sc_schema_apikey_parse(strs, lens, n, (sc_apikey_record_t **)&record, err, sizeof(err));
    if (rc != 0) {
        sc_log_error("tenant store: %s (%s)", err, describe(f->entry, what, sizeof(what)));
        *status = SC_LOOKUP_INVALID;
        return NULL;
    }
    *status = SC_LOOKUP_FOUND;
    return pack_record(f->kind, record);
}

static void store_value(sc_cache_entry_t *e, sc_cached_t *value, uint64_t now, uint32_t epoch)
{
    sc_record_cache_set(e, value, now);
    e->epoch = epoch;
}

/*
 * A record found for an entry in probation moves to the cache of records that exist. Returns 1
 * when it did (the probation entry is then removed by the caller, once its pending lookups are answered).
 */
static int promote(sc_tenant_store_t *s, const sc_cache_entry_t *e, sc_cached_t *value, uint64_t now, uint32_t epoch)
{
    sc_cache_entry_t *p = sc_record_cache_find(s->cache, e->key, e->key_len);
    if (p == NULL && (p = sc_record_cache_insert(s->cache, e->key, e->key_len)) == NULL)
        return 0;
    store_value(p, value, now, epoch);
    return 1;
}

static void on_fetch_reply(redisReply *reply, void *data, const char *err)
{
    fetch_t *f = data;
    sc_tenant_store_t *s = f->store;
    sc_cache_entry_t *e = f->entry;
    uint64_t now = h2o_now(s->loop);
    sc_lookup_t result;
    int promoted = 0;
    char what[SC_SCHEMA_KEY_MAX + 32];

    e->pending = 0;
    if (err != NULL || reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        if (err == NULL)
            sc_log_error("tenant store: unexpected reply to HGETALL (%s)", describe(e, what, sizeof(what)));
        /* a refresh in the background has nobody to answer: the entry stays as it was */
        result = h2o_linklist_is_empty(&e->pending_lookups) ? (sc_lookup_t){SC_LOOKUP_UNAVAILABLE, NULL, 0}
                                                            : unavailable_or_stale(s, e, now);
    } else if (reply->elements == 0) {
        sc_cached_t *absent = sc_record_cache_value_new(NULL, NULL);
        if (!e->detached)
            store_value(e, absent, now, f->epoch);
        h2o_mem_release_shared(absent);
        result = (sc_lookup_t){SC_LOOKUP_NOT_FOUND, NULL, 0};
    } else {
        sc_lookup_status_t status;
        sc_cached_t *value = parse_reply(f, reply, &status);
        result = (sc_lookup_t){status, value, 0}; /* our reference moves into the result */
        if (value != NULL && !e->detached && !(f->cache == s->probation && (promoted = promote(s, e, value, now, f->epoch))))
            store_value(e, value, now, f->epoch);
    }
    answer_pending_lookups(e, result);
    if (e->detached)
        sc_record_cache_free_detached(e);
    else if (e->value == NULL || promoted)
        sc_record_cache_remove(f->cache, e); /* nothing learnt, or moved: do not keep this entry */
    free(f->tenant);
    free(f);
}

static int start_fetch(sc_tenant_store_t *s, sc_record_cache_t *cache, sc_cache_entry_t *e, record_kind_t kind, const char *tenant,
                       size_t tenant_len, const char *redis_key, size_t redis_key_len)
{
    fetch_t *f = calloc(1, sizeof(*f));
    if (f == NULL || (f->tenant = strndup(tenant, tenant_len)) == NULL) {
        free(f);
        return -1;
    }
    f->store = s;
    f->cache = cache;
    f->entry = e;
    f->kind = kind;
    f->epoch = s->epoch;
    const char *argv[] = {"HGETALL", redis_key};
    size_t argvlen[] = {7, redis_key_len};
    if (sc_redis_cluster_command(s->redis, redis_key, redis_key_len, on_fetch_reply, f, 2, argv, argvlen) != 0) {
        free(f->tenant);
        free(f);
        return -1;
    }
    e->pending = 1;
    return 0;
}

static int add_waiter(sc_cache_entry_t *e, sc_tenant_store_cb cb, void *data)
{
    pending_lookup_t *w = calloc(1, sizeof(*w)); /* an unlinked list node is all zeros */
    if (w == NULL)
        return -1;
    w->cb = cb;
    w->data = data;
    h2o_linklist_insert(&e->pending_lookups, &w->link);
    return 0;
}

/*
 * "t:TENANT" or "k:TENANT:" and the key's SHA-256 as 32 bytes (half the size of its hex, in each
 * of up to hundreds of thousands of entries), built without printf: this runs on every request.
 * The hex comes from sc_schema_hash_key or a checked invalidation message: always 64 digits.
 */
static size_t cache_key(char *buf, record_kind_t kind, const char *tenant, size_t len, const char *sha256_hex)
{
    char *p = buf;
    *p++ = kind == RECORD_TENANT ? 't' : 'k';
    *p++ = ':';
    memcpy(p, tenant, len);
    p += len;
    if (kind == RECORD_APIKEY) {
        *p++ = ':';
        if (sc_hex_decode(sha256_hex, SC_SHA256_HEX_LEN, (unsigned char *)p) != 0)
            memset(p, 0, SC_SHA256_HEX_LEN / 2); /* not reached: see above */
        p += SC_SHA256_HEX_LEN / 2;
    }
    *p = '\0';
    return (size_t)(p - buf);
}

/* What an entry is about, for a log line: its key holds a binary digest, never printed. */
static const char *describe(const sc_cache_entry_t *e, char *buf, size_t size)
{
    const char *tenant = e->key + 2, *end = memchr(tenant, ':', e->key_len - 2);
    int len = (int)(end != NULL ? (size_t)(end - tenant) : e->key_len - 2);
    snprintf(buf, size, "%s of tenant %.*s", e->key[0] == 't' ? "record" : "API key record", len, tenant);
    return buf;
}

static size_t redis_key(const sc_tenant_store_t *s, char *buf, record_kind_t kind, const char *tenant, size_t len,
                        const char *sha256_hex)
{
    if (kind == RECORD_TENANT)
        return sc_schema_tenant_key(buf, s->redis_config->prefix, tenant, len);
    return sc_schema_apikey_key(buf, s->redis_config->prefix, tenant, len, sha256_hex);
}

static int within_ttl(const sc_tenant_store_t *s, const sc_cache_entry_t *e, uint64_t now)
{
    return within(now, e->fetched_at, e->value->record != NULL ? s->config.ttl_ms : s->config.negative_ttl_ms);
}

/*
 * The common path of both lookups: cache first, then one shared Redis lookup, which waits for
 * the connection if it is being made. With cb NULL, only the synchronous answers are given: 0
 * means "call again with a callback".
 *
 * A value past its TTL but within max_stale is answered at once, without waiting, in two
 * cases: Redis is not connected (an outage must not add a wait to every request), and the value
 * is only due to be read again because the subscription was made again (it is refreshed in the
 * background, and served until the fresh read answers).
 */
static int lookup(sc_tenant_store_t *s, record_kind_t kind, const char *tenant, size_t tenant_len, const char *sha256_hex,
                  sc_tenant_store_cb cb, void *data, sc_lookup_t *result)
{
    char key[SC_SCHEMA_KEY_MAX], rkey[SC_SCHEMA_KEY_MAX];
    size_t key_len = cache_key(key, kind, tenant, tenant_len, sha256_hex);
    uint64_t now = h2o_now(s->loop);
    sc_record_cache_t *cache = s->cache;
    sc_cache_entry_t *e = sc_record_cache_find(cache, key, key_len);
    if (e == NULL)
        e = sc_record_cache_find(cache = s->probation, key, key_len);

    if (e != NULL && e->value != NULL) {
        int in_ttl = within_ttl(s, e, now);
        if (in_ttl && e->epoch == s->epoch) {
            sc_metrics_count(&s->stats.hits);
            *result = answer_from_entry(e, 0);
            return 1;
        }
        int connected = sc_redis_cluster_is_ready(s->redis), revalidating = in_ttl; /* only the epoch is behind */
        if ((!connected || revalidating) && within(now, e->fetched_at, s->config.max_stale_ms)) {
            if (connected && !e->pending)
                start_fetch(s, cache, e, kind, tenant, tenant_len, rkey, redis_key(s, rkey, kind, tenant, tenant_len, sha256_hex));
            sc_metrics_count(&s->stats.stale_served);
            *result = answer_from_entry(e, 1);
            return 1;
        }
    }
    if (cb == NULL)
        return 0;
    sc_metrics_count(&s->stats.misses);
    if (e != NULL && e->pending)
        goto Wait;
    if (e == NULL && (e = sc_record_cache_insert(cache, key, key_len)) == NULL)
        goto Fail;
    if (start_fetch(s, cache, e, kind, tenant, tenant_len, rkey, redis_key(s, rkey, kind, tenant, tenant_len, sha256_hex)) != 0) {
        if (e->value == NULL) {
            sc_record_cache_remove(cache, e);
            e = NULL;
        }
        goto Fail;
    }
Wait:
    if (add_waiter(e, cb, data) != 0)
        goto Fail; /* the fetch goes on and fills the cache for the next request */
    return 0;
Fail: /* a record still within max_stale serves, as when Redis is known to be down */
    *result = unavailable_or_stale(s, e, now);
    return 1;
}

int sc_tenant_store_get_tenant(sc_tenant_store_t *s, const char *tenant, size_t len, sc_tenant_store_cb cb, void *data,
                               sc_lookup_t *result)
{
    return lookup(s, RECORD_TENANT, tenant, len, NULL, cb, data, result);
}

int sc_tenant_store_get_apikey(sc_tenant_store_t *s, const char *tenant, size_t len, const char *sha256_hex, sc_tenant_store_cb cb,
                               void *data, sc_lookup_t *result)
{
    return lookup(s, RECORD_APIKEY, tenant, len, sha256_hex, cb, data, result);
}

/* ------------------------------------------------------------------ lifecycle */

sc_tenant_store_t *sc_tenant_store_create(h2o_evloop_t *loop, const sc_redis_config_t *redis,
                                          const sc_tenant_store_config_t *config)
{
    sc_tenant_store_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->loop = loop;
    s->redis_config = redis;
    s->config = *config;
    sc_schema_global_key(s->channel, redis->prefix, "invalidate");
    if ((s->cache = sc_record_cache_create(config->max_entries)) == NULL ||
        (s->probation = sc_record_cache_create(config->max_negative_entries)) == NULL ||
        (s->redis = sc_redis_cluster_create(loop, redis)) == NULL ||
        (s->subscriber = sc_redis_subscriber_create(loop, s->redis, s->channel, &subscriber_callbacks, s)) == NULL) {
        sc_tenant_store_destroy(s);
        return NULL;
    }
    return s;
}

void sc_tenant_store_destroy(sc_tenant_store_t *s)
{
    if (s == NULL)
        return;
    if (s->subscriber != NULL)
        sc_redis_subscriber_destroy(s->subscriber);
    if (s->redis != NULL)
        sc_redis_cluster_destroy(s->redis); /* pending fetches complete (their pending lookups get "unavailable") */
    sc_record_cache_destroy(s->cache);
    sc_record_cache_destroy(s->probation);
    free(s);
}

const sc_tenant_store_stats_t *sc_tenant_store_stats(const sc_tenant_store_t *s)
{
    return &s->stats;
}

void sc_tenant_store_add_stats(const sc_tenant_store_t *s, sc_tenant_store_stats_t *sum, sc_redis_client_stats_t *redis)
{
#define ADD(field) sum->field += __atomic_load_n(&s->stats.field, __ATOMIC_RELAXED)
    ADD(hits);
    ADD(misses);
    ADD(stale_served);
    ADD(unavailable);
    ADD(invalidations);
    ADD(malformed_invalidations);
    ADD(flushes);
#undef ADD
    sc_redis_cluster_add_stats(s->redis, redis);
}

int sc_tenant_store_commands_ready(const sc_tenant_store_t *s)
{
    return sc_redis_cluster_is_ready(s->redis);
}

int sc_tenant_store_subscribed(const sc_tenant_store_t *s)
{
    return sc_redis_subscriber_is_ready(s->subscriber);
}

sc_redis_cluster_t *sc_tenant_store_redis(sc_tenant_store_t *s)
{
    return s->redis;
}
