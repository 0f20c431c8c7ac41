/*
 * schema: the Redis data model, the contract between the sidecar (reader) and sidecarctl
 * (writer). Every key starts with the configured prefix (default "ps:"); everything about one
 * tenant shares the hash tag {TENANT} so that it lives in one Redis Cluster slot and one
 * MULTI/EXEC or script touches one tenant only.
 *
 *   PREFIX{T}:tenant          HASH  the tenant record (fields below)
 *   PREFIX{T}:key:SHA256HEX   HASH  an API key record, found by the SHA-256 of the key
 *   PREFIX{T}:keyids          HASH  key id -> SHA256HEX, for listing and revoking
 *   PREFIX{T}:rl[:SERVICE]    rate-limit state (GCRA theoretical arrival time)
 *   PREFIX{T}:quota:YYYYMMDD  daily request count
 *   PREFIX{T}:lh[:SERVICE]    ZSET  rate-limit lease holders seen lately (worker id -> Redis time, us)
 *   PREFIX tenants            SET   every tenant id (listing; never read by the sidecar)
 *   PREFIX keyid-index        HASH  key id -> tenant (revoking by key id; never read by the sidecar)
 *   PREFIX audit              STREAM who changed what, when
 *   PREFIX invalidate         Pub/Sub channel: "tenant T", "key T SHA256HEX" or "all"
 *
 * The three global keys have no hash tag: on a Redis Cluster they are in other slots than the
 * tenants', so sidecarctl writes them after the tenant's transaction and repairs them from the
 * tenant's keys (ctl_redis.h); readers tolerate an entry missing or stale meanwhile.
 *
 * Tenant record fields: status (active|suspended), services (space-separated names, or "*";
 * absent or empty: none), scopes (space-separated; "*" or absent: no cap; empty: no scope at
 * all), issuers (space-separated JWT issuers allowed to speak for the tenant; absent or empty:
 * any configured issuer), rate, burst (requests/s and bucket
 * size overriding the policy), quota_daily (requests per UTC day), created_at, updated_at.
 *
 * API key record fields: tenant, key_id, name, scopes (space-separated), status
 * (active|revoked), expires_at (Unix seconds; 0 never), created_at.
 *
 * Keys are never stored: only SHA-256(key) as lower-case hex appears in Redis.
 */
#ifndef SC_SCHEMA_H
#define SC_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "text.h"
#include "words.h"

#define SC_TENANT_ID_MAX SC_TEXT_TENANT_ID_MAX
#define SC_SHA256_HEX_LEN 64
/* the longest key name we build: prefix + "{" + tenant + "}:key:" + hex, with room to spare */
#define SC_SCHEMA_KEY_MAX (64 + SC_TENANT_ID_MAX + SC_SHA256_HEX_LEN + 32)
#define SC_SCHEMA_PREFIX_MAX 64

/* Key names. Each writes a NUL-terminated name into buf (SC_SCHEMA_KEY_MAX bytes) and returns
 * its length. Callers validate tenant ids first. */
size_t sc_schema_tenant_key(char *buf, const char *prefix, const char *tenant, size_t tenant_len);
size_t sc_schema_apikey_key(char *buf, const char *prefix, const char *tenant, size_t tenant_len, const char *sha256_hex);
size_t sc_schema_keyids_key(char *buf, const char *prefix, const char *tenant);
size_t sc_schema_ratelimit_key(char *buf, const char *prefix, const char *tenant, size_t tenant_len, const char *service);
size_t sc_schema_lease_holders_key(char *buf, const char *prefix, const char *tenant, size_t tenant_len, const char *service);
size_t sc_schema_quota_key(char *buf, const char *prefix, const char *tenant, size_t tenant_len, const char *yyyymmdd);
size_t sc_schema_global_key(char *buf, const char *prefix, const char *name); /* "tenants", "keyid-index", "audit", "invalidate" */

/* An invalidation message, as published on PREFIX"invalidate" by sidecarctl. */
typedef enum { SC_INVALIDATE_ALL, SC_INVALIDATE_TENANT, SC_INVALIDATE_KEY } sc_invalidation_kind_t;

typedef struct sc_invalidation {
    sc_invalidation_kind_t kind;
    const char *tenant; /* TENANT and KEY: a valid tenant id, pointing into the message */
    size_t tenant_len;
    const char *sha256_hex; /* KEY: SC_SHA256_HEX_LEN lower-case hex digits, pointing into the message */
} sc_invalidation_t;

/* "key " + tenant + " " + hex, and a NUL */
#define SC_INVALIDATION_MAX (4 + SC_TENANT_ID_MAX + 1 + SC_SHA256_HEX_LEN + 1)

/**
 * Parses "all", "tenant TENANT" or "key TENANT SHA256HEX". Anyone who can PUBLISH on the channel
 * can send anything: every part is checked (tenant id syntax, 64 lower-case hex digits, exact
 * length), and anything else returns -1.
 */
int sc_schema_invalidation_parse(const char *msg, size_t len, sc_invalidation_t *out);

/**
 * Writes the message naming a tenant (sha256_hex NULL) or one of its API keys into buf
 * (SC_INVALIDATION_MAX bytes) and returns its length. The tenant id must be valid.
 */
size_t sc_schema_invalidation_format(char *buf, const char *tenant, const char *sha256_hex);

/**
 * SHA-256 of an API key as 64 lower-case hex characters and a NUL.
 */
void sc_schema_hash_key(const char *key, size_t len, char out[SC_SHA256_HEX_LEN + 1]);

/*
 * The records' fields, named once for the reader (the parsers below) and the writer (sidecarctl's
 * ctl_record.c). A field both kinds of record have ("status", "scopes", "created_at") is one name.
 */
#define SC_FIELD_STATUS "status"
#define SC_FIELD_SERVICES "services"
#define SC_FIELD_SCOPES "scopes"
#define SC_FIELD_ISSUERS "issuers"
#define SC_FIELD_RATE "rate"
#define SC_FIELD_BURST "burst"
#define SC_FIELD_QUOTA_DAILY "quota_daily"
#define SC_FIELD_CREATED_AT "created_at"
#define SC_FIELD_UPDATED_AT "updated_at"
#define SC_FIELD_TENANT "tenant"
#define SC_FIELD_KEY_ID "key_id"
#define SC_FIELD_NAME "name"
#define SC_FIELD_EXPIRES_AT "expires_at"

/* How a field's value is written: text, a space-separated word list (or "*"), a decimal count. */
typedef enum { SC_RECORD_TEXT, SC_RECORD_WORDS, SC_RECORD_UINT } sc_record_field_type_t;

typedef struct sc_record_field {
    const char *name;
    sc_record_field_type_t type;
} sc_record_field_t;

/* Every field of each kind of record, in the order sidecarctl writes and shows them; a NULL name ends each. */
extern const sc_record_field_t sc_tenant_record_fields[];
extern const sc_record_field_t sc_apikey_record_fields[];

typedef struct sc_tenant_record {
    char *id;
    char **services;
    char **scopes;
    char **issuers; /* NULL/0: any configured issuer */
    uint64_t rate;  /* 0: the policy's default */
    uint64_t burst;
    uint64_t quota_daily; /* 0: none */
    /* small types last: a worker may cache hundreds of thousands of these */
    uint32_t num_services;
    uint32_t num_scopes;
    uint32_t num_issuers;
    uint8_t active;
    uint8_t all_services;
    uint8_t all_scopes; /* no cap on credential scopes */
} sc_tenant_record_t;

typedef struct sc_apikey_record {
    char *tenant;
    char *key_id;
    char *name;
    char **scopes;
    size_t num_scopes;
    int active;
    int64_t expires_at; /* 0: never */
} sc_apikey_record_t;

/**
 * Builds a record from HGETALL's alternating field/value strings. Unknown fields are ignored
 * (newer writers may add some); malformed known fields are errors. Returns 0, or -1 with a
 * reason in err. Release with the matching _free function.
 */
int sc_schema_tenant_parse(const char *id, const char *const *strs, const size_t *lens, size_t count, sc_tenant_record_t **out,
                           char *err, size_t errsize);
int sc_schema_apikey_parse(const char *const *strs, const size_t *lens, size_t count, sc_apikey_record_t **out, char *err,
                           size_t errsize);

void sc_schema_tenant_free(sc_tenant_record_t *record);
void sc_schema_apikey_free(sc_apikey_record_t *record);

/**
 * A record packed into one block of memory (the struct, its word arrays and its strings), for
 * the cache: _packed_size says how many bytes, _pack writes the copy into `mem` (aligned for a
 * pointer) and returns it. A packed record is released with its block, never with _free.
 */
size_t sc_schema_tenant_packed_size(const sc_tenant_record_t *record);
sc_tenant_record_t *sc_schema_tenant_pack(const sc_tenant_record_t *record, void *mem);
size_t sc_schema_apikey_packed_size(const sc_apikey_record_t *record);
sc_apikey_record_t *sc_schema_apikey_pack(const sc_apikey_record_t *record, void *mem);

#endif
