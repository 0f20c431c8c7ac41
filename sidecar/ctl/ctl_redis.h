/*
 * ctl_redis: sidecarctl's synchronous Redis session (hiredis, blocking: it is a command-line
 * tool) and the one way it changes anything: ctl_redis_transact.
 *
 * Every change is one optimistic transaction:
 *
 *   WATCH the keys whose state decides the outcome (done by the prepare callback, before it
 *   reads them), read, decide (refuse, or queue the writes), then
 *   MULTI, the queued writes, XADD PREFIX"audit" MAXLEN ~ N, PUBLISH PREFIX"invalidate" ..., EXEC.
 *
 * EXEC aborted because a watched key changed: the whole thing is prepared again from fresh
 * reads, a bounded number of times. The audit entry and the invalidation messages are part of
 * the transaction, so a change is never applied unaudited, and sidecars hear of it exactly when
 * it becomes visible (PUBLISH inside MULTI is delivered at EXEC).
 *
 * Redis Cluster (config->cluster): every command goes to the node of its key's slot (MOVED and
 * ASK followed, ctl_cluster.h), and a change is two steps. First the transaction above on the
 * tenant's node, holding everything of the tenant (its keys share the hash tag {TENANT}: one
 * slot) and the PUBLISHes; WATCH of a global key is skipped there (it lives in another slot).
 * Then, once EXEC has applied it, the writes to the global keys PREFIX"tenants",
 * PREFIX"keyid-index" and the audit entry, one by one, and the repair of the tenant's index
 * entries from its own keys (listed in tenants exactly when its record exists; each of its key ids
 * indexed to it). Every command that touches a tenant ends with that repair, refusals included,
 * so running the same command again mends whatever an interruption between the steps left. A
 * slot that moves while a transaction is prepared makes it be prepared again.
 */
#ifndef SC_CTL_REDIS_H
#define SC_CTL_REDIS_H

#include <hiredis/hiredis.h>
#include <stdint.h>

#include "ctl_cluster.h"
#include "ctl_record.h"
#include "ctl_status.h"
#include "redis_client.h"
#include "schema.h"

#define CTL_TX_ATTEMPTS 10
/* The sidecar's timeout_ms is tuned for its hot path (tens of ms); an operator can wait. */
#define CTL_COMMAND_TIMEOUT_MS 5000

typedef struct ctl_redis {
    redisContext *ctx;
    const sc_redis_config_t *config;      /* borrowed: host, url, prefix */
    const char *actor;                    /* borrowed: recorded in the audit stream */
    uint64_t audit_max_entries;           /* XADD MAXLEN ~ this: the stream stays bounded */
    ctl_cluster_t *cluster;               /* NULL: standalone (ctx is the connection) */
    int node;                             /* cluster: the transaction's node (its WATCH, MULTI, EXEC); -1: none */
    char tx_tenant[SC_TENANT_ID_MAX + 1]; /* cluster: the tenant whose keys the transaction watches */
    int redirected;                       /* cluster: a slot moved under the transaction */
} ctl_redis_t;

/**
 * Connects, authenticates (AUTH [user] password when a password is configured), selects the
 * database and checks with PING that commands are allowed. `config` and `actor` must outlive the
 * session. Returns CTL_EXIT_OK, or CTL_EXIT_REDIS with a reason that names the URL (never the
 * password).
 */
int ctl_redis_connect(const sc_redis_config_t *config, const char *actor, ctl_redis_t **out, ctl_err_t *err);

void ctl_redis_close(ctl_redis_t *r);

/**
 * Runs one command given as NULL-terminated string arguments. Returns the reply (free with
 * freeReplyObject), or NULL with CTL_EXIT_REDIS's reason in err when the connection failed or
 * Redis answered with an error.
 */
redisReply *ctl_redis_cmd(ctl_redis_t *r, ctl_err_t *err, const char *arg0, ...) __attribute__((sentinel));

/**
 * HGETALL into an empty record (left empty when the key does not exist). Returns CTL_EXIT_OK or
 * CTL_EXIT_REDIS.
 */
int ctl_redis_hgetall(ctl_redis_t *r, const char *key, ctl_record_t *rec, ctl_err_t *err);

/**
 * WATCH one key. Returns CTL_EXIT_OK or CTL_EXIT_REDIS.
 */
int ctl_redis_watch(ctl_redis_t *r, const char *key, ctl_err_t *err);

/* ------------------------------------------------------------------ transactions */

typedef struct ctl_tx ctl_tx_t;

/*
 * Watches and reads what the change depends on, then queues it on `tx`. Returns CTL_EXIT_OK to
 * commit, or any other status (with err) to give up with nothing written. It may run several
 * times (after a conflict), each time on an empty `tx`.
 */
typedef int (*ctl_tx_prepare_cb)(ctl_redis_t *r, ctl_tx_t *tx, void *data, ctl_err_t *err);

/**
 * Prepares and commits a change as described at the top of this file. Returns CTL_EXIT_OK, the
 * prepare callback's refusal, CTL_EXIT_REDIS, or CTL_EXIT_REFUSED when every attempt met a
 * concurrent change. Commits only when prepare called ctl_tx_audit.
 */
int ctl_redis_transact(ctl_redis_t *r, ctl_tx_prepare_cb prepare, void *data, ctl_err_t *err);

/**
 * Queues a write (NULL-terminated string arguments).
 */
void ctl_tx_add(ctl_tx_t *tx, const char *arg0, ...) __attribute__((sentinel));

/**
 * Queues HSET of the record's fields and HDEL of those marked for removal.
 */
void ctl_tx_write_record(ctl_tx_t *tx, const char *key, const ctl_record_t *rec);

/**
 * Sets the audit entry: actor (the session's), action ("tenant.create", "key.revoke"...),
 * tenant, key_id (NULL: none), detail, at (now, Unix seconds).
 */
void ctl_tx_audit(ctl_tx_t *tx, const char *action, const char *tenant, const char *key_id, const char *detail);

/**
 * Queues the invalidation message of a tenant (sha256_hex NULL) or of one of its API keys, in
 * the format the sidecar parses (sc_schema_invalidation_format / sc_schema_invalidation_parse in schema.h).
 */
void ctl_tx_invalidate(ctl_tx_t *tx, const char *tenant, const char *sha256_hex);

#endif
