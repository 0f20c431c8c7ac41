/*
 * tenant_store: tenant and API-key records for one worker thread, from an in-process cache
 * backed by Redis.
 *
 *  - A fresh cache hit answers synchronously: a warm tenant and key cost no Redis round trip.
 *  - A miss (or an expired entry) sends one HGETALL; concurrent requests for the same record
 *    wait on that one lookup. The caller is suspended meanwhile, never the loop.
 *  - "Absent" is cached too, briefly, and the caches are bounded, so random keys cannot exhaust
 *    memory. Absent answers (and lookups of records not yet known to exist) live in a smaller
 *    cache of their own: random tenant ids and keys sent before any authentication cannot evict
 *    the records of real tenants, which keep serving through a Redis outage.
 *  - Changes are pushed: the store subscribes to PREFIX"invalidate" on its own connection and
 *    drops the named entries at once; after every re-subscription every cached record is read
 *    again before it counts as fresh, because messages sent while it was away are lost (it is
 *    still served, within max_stale, until the fresh read answers).
 *  - While the connection is being made (start-up, reconnection) a lookup waits for it, up to
 *    the client's deadline (see sc_redis_client_command).
 *  - When Redis cannot answer (down, or slower than timeout_ms), a record fetched less than
 *    max_stale ago is served, without waiting when Redis is known to be disconnected; past that
 *    the answer is "unavailable" and the pipeline fails closed (503).
 */
#ifndef SC_TENANT_STORE_H
#define SC_TENANT_STORE_H

#include <h2o.h>

#include "record_cache.h"
#include "redis_cluster.h"
#include "schema.h"

typedef struct sc_tenant_store_config {
    uint64_t ttl_ms;             /* a record is refreshed after this long */
    uint64_t negative_ttl_ms;    /* "absent" is remembered this long */
    uint64_t max_stale_ms;       /* with Redis unavailable, records this old are still served */
    size_t max_entries;          /* records that exist, per worker thread */
    size_t max_negative_entries; /* "absent" answers and first lookups, per worker thread: apart, so
                                    made-up tenant ids and keys never evict real records */
} sc_tenant_store_config_t;

typedef enum {
    SC_LOOKUP_FOUND,
    SC_LOOKUP_NOT_FOUND,
    SC_LOOKUP_UNAVAILABLE, /* Redis unreachable or too slow, and nothing fresh enough cached */
    SC_LOOKUP_INVALID,     /* the record in Redis is malformed (logged) */
} sc_lookup_status_t;

/* The outcome of a lookup. `cached` holds the record (NULL unless FOUND); the receiver owns
 * one reference to it and releases it with h2o_mem_release_shared (or links it to a pool). */
typedef struct sc_lookup {
    sc_lookup_status_t status;
    sc_cached_t *cached;
    int stale; /* served from cache past its TTL because Redis could not answer */
} sc_lookup_t;

typedef void (*sc_tenant_store_cb)(void *data, sc_lookup_t result);

typedef struct sc_tenant_store_stats {
    uint64_t hits, misses, stale_served, unavailable, invalidations, malformed_invalidations, flushes;
} sc_tenant_store_stats_t;

typedef struct sc_tenant_store sc_tenant_store_t;

sc_tenant_store_t *sc_tenant_store_create(h2o_evloop_t *loop, const sc_redis_config_t *redis,
                                          const sc_tenant_store_config_t *config);

void sc_tenant_store_destroy(sc_tenant_store_t *store);

/**
 * Looks up a tenant record. Returns 1 with *result filled when answered synchronously (cache
 * hit, or Redis known to be down); returns 0 when `cb` will be called later, exactly once.
 * With `cb` NULL nothing is started: 0 then means "not answerable now; call again with a
 * callback" (so that callers allocate their waiting state only when they have to wait).
 */
int sc_tenant_store_get_tenant(sc_tenant_store_t *store, const char *tenant, size_t len, sc_tenant_store_cb cb, void *data,
                               sc_lookup_t *result);

/**
 * Looks up an API key record by the SHA-256 hex of the key, under the tenant it was presented
 * with. Same contract as sc_tenant_store_get_tenant.
 */
int sc_tenant_store_get_apikey(sc_tenant_store_t *store, const char *tenant, size_t len, const char *sha256_hex,
                               sc_tenant_store_cb cb, void *data, sc_lookup_t *result);

/**
 * Applies an invalidation message ("tenant T", "key T HEX" or "all"; see sc_schema_invalidation_parse).
 * Anything else drops the whole cache and is counted as malformed. Called by the subscriber,
 * and by tests.
 */
void sc_tenant_store_invalidate(sc_tenant_store_t *store, const char *message, size_t len);

const sc_tenant_store_stats_t *sc_tenant_store_stats(const sc_tenant_store_t *store);

/**
 * Adds the store's counters to `sum`, and its Redis command connection's to `redis`, from any
 * thread (each read is atomic; the set is not a snapshot).
 */
void sc_tenant_store_add_stats(const sc_tenant_store_t *store, sc_tenant_store_stats_t *sum, sc_redis_client_stats_t *redis);

/**
 * Whether the command connection, and the invalidation subscription, are up. Thread-safe:
 * /ready asks from any worker.
 */
int sc_tenant_store_commands_ready(const sc_tenant_store_t *store);
int sc_tenant_store_subscribed(const sc_tenant_store_t *store);

sc_redis_cluster_t *sc_tenant_store_redis(sc_tenant_store_t *store);

#endif
