/*
 * ctl_store: reading the data model (schema.h) through a ctl_redis session: key names with the
 * session's prefix, tenant ids, tenant records, a tenant's API keys. Shared by the commands and
 * by export/import; every write goes through ctl_redis_transact instead.
 */
#ifndef SC_CTL_STORE_H
#define SC_CTL_STORE_H

#include "ctl_record.h"
#include "ctl_redis.h"
#include "schema.h"

/* Key names (sc_schema_* with the session's prefix), written into buf and returned. */
const char *ctl_store_tenant_key(const ctl_redis_t *r, const char *tenant, char buf[SC_SCHEMA_KEY_MAX]);
const char *ctl_store_apikey_key(const ctl_redis_t *r, const char *tenant, const char *sha256, char buf[SC_SCHEMA_KEY_MAX]);
const char *ctl_store_keyids_key(const ctl_redis_t *r, const char *tenant, char buf[SC_SCHEMA_KEY_MAX]);
const char *ctl_store_global_key(const ctl_redis_t *r, const char *name, char buf[SC_SCHEMA_KEY_MAX]);

typedef struct ctl_key_entry {
    char *key_id;
    char *sha256;
    ctl_record_t rec; /* empty unless records were asked for, or when the record is missing */
} ctl_key_entry_t;

typedef struct ctl_key_list {
    ctl_key_entry_t *items; /* sorted by key id */
    size_t count;
} ctl_key_list_t;

/**
 * The tenant's keys from PREFIX{T}:keyids, with their records when `with_records`. Returns
 * CTL_EXIT_OK or CTL_EXIT_REDIS.
 */
int ctl_store_read_keys(ctl_redis_t *r, const char *tenant, int with_records, ctl_key_list_t *out, ctl_err_t *err);

void ctl_key_list_free(ctl_key_list_t *list);

/**
 * Every tenant id in PREFIX"tenants", sorted. Release with sc_words_free. Returns CTL_EXIT_OK
 * or CTL_EXIT_REDIS.
 */
int ctl_store_read_tenant_ids(ctl_redis_t *r, char ***ids, size_t *count, ctl_err_t *err);

/**
 * The tenant record into an empty `rec`; CTL_EXIT_REFUSED ("unknown tenant") when there is none.
 */
int ctl_store_read_tenant(ctl_redis_t *r, const char *tenant, ctl_record_t *rec, ctl_err_t *err);

/**
 * The tenant's rate-limit and quota keys (PREFIX{T}:rl, PREFIX{T}:rl:SERVICE,
 * PREFIX{T}:quota:YYYYMMDD), found with SCAN MATCH PREFIX{T}:* (never KEYS: SCAN does not block
 * Redis). Counters written while the scan runs may be missed. Release with sc_words_free.
 * Returns CTL_EXIT_OK or CTL_EXIT_REDIS.
 */
int ctl_store_scan_counters(ctl_redis_t *r, const char *tenant, char ***keys, size_t *count, ctl_err_t *err);

/**
 * 1 when the key exists, 0 when not, -1 on a Redis error (in err).
 */
int ctl_store_exists(ctl_redis_t *r, const char *key, ctl_err_t *err);

#endif
