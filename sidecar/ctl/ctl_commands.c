#include "ctl_commands.h"

#include <stdlib.h>
#include <string.h>

#include "ctl_keygen.h"
#include "ctl_output.h"
#include "ctl_store.h"
#include "schema.h"
#include "text.h"

#define KEY_ID_TRIES 5 /* 48 random bits: a second collision in a row means something is wrong */

/* ------------------------------------------------------------------ checks before Redis */

/* "a, b, c": the host file's service names, for messages. */
static char *service_names(const sc_config_t *host)
{
    char *s = ctl_xstrdup("");
    for (size_t i = 0; i != host->num_services; ++i) {
        char *next = ctl_xasprintf("%s%s%s", s, i != 0 ? ", " : "", host->services[i].name);
        free(s);
        s = next;
    }
    return s;
}

int ctl_check_services(const sc_config_t *host, const char *services, const char *where, ctl_err_t *err)
{
    char **words;
    size_t n;
    int rc = CTL_EXIT_OK;
    if (host == NULL || strcmp(services, "*") == 0)
        return CTL_EXIT_OK;
    if (sc_words_split(services, strlen(services), &words, &n) != 0)
        return ctl_fail(err, CTL_EXIT_REFUSED, "out of memory");
    for (size_t i = 0; i != n && rc == CTL_EXIT_OK; ++i) {
        if (sc_config_find_service(host, words[i]) != NULL)
            continue;
        char *known = service_names(host);
        rc = ctl_fail(err, CTL_EXIT_USAGE, "%s: unknown service \"%s\" (%s defines %s)", where, words[i], host->file, known);
        free(known);
    }
    sc_words_free(words, n);
    return rc;
}

int ctl_commands_precheck(const ctl_env_t *env, int stdin_is_tty, ctl_err_t *err)
{
    const ctl_args_t *a = env->args;
    if ((a->given & CTL_OPT_SERVICES) != 0 && ctl_check_services(env->host, a->services, "--services", err) != CTL_EXIT_OK)
        return CTL_EXIT_USAGE;
    if (a->command == CTL_CMD_TENANT_DELETE && !a->yes && !stdin_is_tty)
        return ctl_fail(err, CTL_EXIT_USAGE, "tenant delete: give --yes (standard input is not a terminal, so nobody can confirm)");
    return CTL_EXIT_OK;
}

/* ------------------------------------------------------------------ tenant changes */

typedef struct tenant_change {
    const ctl_env_t *env;
    const char *action; /* "tenant.create", "tenant.update"... */
    int create;         /* the tenant must not exist yet (else: must exist) */
    ctl_record_t fields;
} tenant_change_t;

/* The tenant fields given on the command line. '*' for scopes or issuers removes the field. */
static void tenant_fields_from_args(const ctl_args_t *a, ctl_record_t *rec)
{
    if (a->given & CTL_OPT_SERVICES)
        ctl_record_set(rec, SC_FIELD_SERVICES, a->services);
    if (a->given & CTL_OPT_SCOPES)
        ctl_record_set(rec, SC_FIELD_SCOPES, strcmp(a->scopes, "*") == 0 ? NULL : a->scopes);
    if (a->given & CTL_OPT_ISSUER)
        ctl_record_set(rec, SC_FIELD_ISSUERS, strcmp(a->issuers, "*") == 0 ? NULL : a->issuers);
    if (a->given & CTL_OPT_RATE)
        ctl_record_setf(rec, SC_FIELD_RATE, "%llu", (unsigned long long)a->rate);
    if (a->given & CTL_OPT_BURST)
        ctl_record_setf(rec, SC_FIELD_BURST, "%llu", (unsigned long long)a->burst);
    if (a->given & CTL_OPT_QUOTA)
        ctl_record_setf(rec, SC_FIELD_QUOTA_DAILY, "%llu", (unsigned long long)a->quota);
}

/* A new tenant: active, every service, no scope cap, the policy's rate, unless told otherwise. */
static void new_tenant_fields(const ctl_env_t *env, ctl_record_t *rec)
{
    ctl_record_set(rec, SC_FIELD_STATUS, "active");
    ctl_record_set(rec, SC_FIELD_SERVICES, "*");
    tenant_fields_from_args(env->args, rec);
    const char *counts[] = {SC_FIELD_RATE, SC_FIELD_BURST, SC_FIELD_QUOTA_DAILY};
    for (size_t i = 0; i != sizeof(counts) / sizeof(counts[0]); ++i)
        if (ctl_record_get(rec, counts[i]) == NULL)
            ctl_record_set(rec, counts[i], "0");
    ctl_record_setf(rec, SC_FIELD_CREATED_AT, "%lld", (long long)env->now);
}

static int prepare_tenant_change(ctl_redis_t *r, ctl_tx_t *tx, void *data, ctl_err_t *err)
{
    tenant_change_t *c = data;
    const char *id = c->env->args->target;
    char key[SC_SCHEMA_KEY_MAX], tenants[SC_SCHEMA_KEY_MAX];
    int exists;

    if (ctl_redis_watch(r, ctl_store_tenant_key(r, id, key), err) != CTL_EXIT_OK || (exists = ctl_store_exists(r, key, err)) < 0)
        return CTL_EXIT_REDIS;
    if (c->create && exists)
        return ctl_fail(err, CTL_EXIT_REFUSED, "tenant \"%s\" already exists", id);
    if (!c->create && !exists)
        return ctl_fail(err, CTL_EXIT_REFUSED, "unknown tenant \"%s\"", id);
    ctl_tx_write_record(tx, key, &c->fields);
    /* on every change, not only create: a record written by other means joins the listing */
    ctl_tx_add(tx, "SADD", ctl_store_global_key(r, "tenants", tenants), id, NULL);
    char *detail = ctl_record_describe(&c->fields);
    ctl_tx_audit(tx, c->action, id, NULL, detail);
    free(detail);
    ctl_tx_invalidate(tx, id, NULL);
    return CTL_EXIT_OK;
}

static int cmd_tenant_change(const ctl_env_t *env, ctl_err_t *err)
{
    const ctl_args_t *a = env->args;
    tenant_change_t c = {.env = env};
    const char *done;
    switch (a->command) {
    case CTL_CMD_TENANT_CREATE:
        c.action = "tenant.create", c.create = 1, done = "created";
        new_tenant_fields(env, &c.fields);
        break;
    case CTL_CMD_TENANT_UPDATE:
        c.action = "tenant.update", done = "updated";
        tenant_fields_from_args(a, &c.fields);
        break;
    case CTL_CMD_TENANT_SUSPEND:
        c.action = "tenant.suspend", done = "suspended";
        ctl_record_set(&c.fields, SC_FIELD_STATUS, "suspended");
        break;
    default:
        c.action = "tenant.activate", done = "activated";
        ctl_record_set(&c.fields, SC_FIELD_STATUS, "active");
        break;
    }
    ctl_record_setf(&c.fields, SC_FIELD_UPDATED_AT, "%lld", (long long)env->now);
    int rc = ctl_redis_transact(env->redis, prepare_tenant_change, &c, err);
    ctl_record_free(&c.fields);
    if (rc != CTL_EXIT_OK)
        return rc;
    char *human = ctl_xasprintf("tenant %s %s", a->target, done);
    rc = ctl_output_done(a->json, c.action, a->target, NULL, human, err);
    free(human);
    return rc;
}

static int prepare_tenant_delete(ctl_redis_t *r, ctl_tx_t *tx, void *data, ctl_err_t *err)
{
    const char *id = data;
    char key[SC_SCHEMA_KEY_MAX], keyids[SC_SCHEMA_KEY_MAX], global[SC_SCHEMA_KEY_MAX];
    ctl_key_list_t keys = {0};
    int exists;

    if (ctl_redis_watch(r, ctl_store_tenant_key(r, id, key), err) != CTL_EXIT_OK ||
        ctl_redis_watch(r, ctl_store_keyids_key(r, id, keyids), err) != CTL_EXIT_OK || (exists = ctl_store_exists(r, key, err)) < 0)
        return CTL_EXIT_REDIS;
    if (!exists)
        return ctl_fail(err, CTL_EXIT_REFUSED, "unknown tenant \"%s\"", id);
    if (ctl_store_read_keys(r, id, 0, &keys, err) != CTL_EXIT_OK)
        return CTL_EXIT_REDIS;
    /* The rate-limit and quota counters go too: a tenant created again later with the same id
     * starts with a fresh budget, and nothing of the old one stays in Redis. */
    char **counters = NULL;
    size_t num_counters = 0;
    if (ctl_store_scan_counters(r, id, &counters, &num_counters, err) != CTL_EXIT_OK) {
        ctl_key_list_free(&keys);
        return CTL_EXIT_REDIS;
    }
    for (size_t i = 0; i != num_counters; ++i)
        ctl_tx_add(tx, "DEL", counters[i], NULL);
    sc_words_free(counters, num_counters);
    ctl_tx_add(tx, "DEL", key, keyids, NULL);
    ctl_tx_add(tx, "SREM", ctl_store_global_key(r, "tenants", global), id, NULL);
    for (size_t i = 0; i != keys.count; ++i) {
        ctl_tx_add(tx, "DEL", ctl_store_apikey_key(r, id, keys.items[i].sha256, key), NULL);
        ctl_tx_add(tx, "HDEL", ctl_store_global_key(r, "keyid-index", global), keys.items[i].key_id, NULL);
        ctl_tx_invalidate(tx, id, keys.items[i].sha256);
    }
    char *detail = ctl_xasprintf("deleted with its %zu API key%s and %zu rate-limit/quota key%s", keys.count,
                                 keys.count == 1 ? "" : "s", num_counters, num_counters == 1 ? "" : "s");
    ctl_tx_audit(tx, "tenant.delete", id, NULL, detail);
    free(detail);
    ctl_tx_invalidate(tx, id, NULL);
    ctl_key_list_free(&keys);
    return CTL_EXIT_OK;
}

/* Without --yes (precheck made sure there is a terminal), the operator confirms, knowing the damage. */
static int confirm_delete(const ctl_env_t *env, ctl_err_t *err)
{
    const char *id = env->args->target;
    ctl_record_t rec = {0};
    ctl_key_list_t keys = {0};
    int rc = ctl_store_read_tenant(env->redis, id, &rec, err);
    if (rc == CTL_EXIT_OK)
        rc = ctl_store_read_keys(env->redis, id, 0, &keys, err);
    if (rc == CTL_EXIT_OK) {
        char *question = ctl_xasprintf("delete tenant %s and its %zu API key%s?", id, keys.count, keys.count == 1 ? "" : "s");
        if (!ctl_output_confirm(question))
            rc = ctl_fail(err, CTL_EXIT_REFUSED, "tenant %s was not deleted", id);
        free(question);
    }
    ctl_record_free(&rec);
    ctl_key_list_free(&keys);
    return rc;
}

static int cmd_tenant_delete(const ctl_env_t *env, ctl_err_t *err)
{
    const ctl_args_t *a = env->args;
    int rc = a->yes ? CTL_EXIT_OK : confirm_delete(env, err);
    if (rc == CTL_EXIT_OK)
        rc = ctl_redis_transact(env->redis, prepare_tenant_delete, (void *)a->target, err);
    if (rc != CTL_EXIT_OK)
        return rc;
    char *human = ctl_xasprintf("tenant %s deleted, with its API keys", a->target);
    rc = ctl_output_done(a->json, "tenant.delete", a->target, NULL, human, err);
    free(human);
    return rc;
}

/* ------------------------------------------------------------------ tenant reads */

static int cmd_tenant_get(const ctl_env_t *env, ctl_err_t *err)
{
    ctl_record_t rec = {0};
    int rc = ctl_store_read_tenant(env->redis, env->args->target, &rec, err);
    if (rc == CTL_EXIT_OK)
        rc = ctl_output_tenant(env->args->json, env->args->target, &rec, err);
    ctl_record_free(&rec);
    return rc;
}

static int cmd_tenant_list(const ctl_env_t *env, ctl_err_t *err)
{
    char **ids = NULL;
    size_t n = 0;
    char key[SC_SCHEMA_KEY_MAX];
    int rc = ctl_store_read_tenant_ids(env->redis, &ids, &n, err);
    ctl_record_t *recs = ctl_xmalloc(n * sizeof(*recs));
    memset(recs, 0, n * sizeof(*recs));
    for (size_t i = 0; rc == CTL_EXIT_OK && i != n; ++i)
        rc = ctl_redis_hgetall(env->redis, ctl_store_tenant_key(env->redis, ids[i], key), &recs[i], err);
    if (rc == CTL_EXIT_OK)
        rc = ctl_output_tenant_list(env->args->json, ids, recs, n, err);
    for (size_t i = 0; i != n; ++i)
        ctl_record_free(&recs[i]);
    free(recs);
    sc_words_free(ids, n);
    return rc;
}

/* ------------------------------------------------------------------ keys */

/* What a key id refers to, read under WATCH: the index names the tenant, whose keyids name the hash. */
typedef struct key_ref {
    char tenant[SC_TENANT_ID_MAX + 1];
    char sha256[SC_SHA256_HEX_LEN + 1];
    ctl_record_t rec;
} key_ref_t;

/* HGET into buf; 0 when found and it fits, 1 when absent (or unusable), -1 on a Redis error. */
static int hget(ctl_redis_t *r, const char *key, const char *field, char *buf, size_t size, ctl_err_t *err)
{
    redisReply *reply = ctl_redis_cmd(r, err, "HGET", key, field, NULL);
    if (reply == NULL)
        return -1;
    int found = reply->type == REDIS_REPLY_STRING && reply->len < size;
    if (found)
        memcpy(buf, reply->str, reply->len + 1);
    freeReplyObject(reply);
    return found ? 0 : 1;
}

static int watch_key(ctl_redis_t *r, const char *key_id, key_ref_t *ref, ctl_err_t *err)
{
    char index[SC_SCHEMA_KEY_MAX], keyids[SC_SCHEMA_KEY_MAX], key[SC_SCHEMA_KEY_MAX];
    int rc;
    if (ctl_redis_watch(r, ctl_store_global_key(r, "keyid-index", index), err) != CTL_EXIT_OK ||
        (rc = hget(r, index, key_id, ref->tenant, sizeof(ref->tenant), err)) < 0)
        return CTL_EXIT_REDIS;
    if (rc != 0 || !sc_text_tenant_id_valid(ref->tenant, strlen(ref->tenant)))
        return ctl_fail(err, CTL_EXIT_REFUSED, "unknown key id \"%s\"", key_id);
    if (ctl_redis_watch(r, ctl_store_keyids_key(r, ref->tenant, keyids), err) != CTL_EXIT_OK ||
        (rc = hget(r, keyids, key_id, ref->sha256, sizeof(ref->sha256), err)) < 0)
        return CTL_EXIT_REDIS;
    if (rc != 0 || strlen(ref->sha256) != SC_SHA256_HEX_LEN)
        return ctl_fail(err, CTL_EXIT_REFUSED, "unknown key id \"%s\" (tenant %s does not list it)", key_id, ref->tenant);
    if (ctl_redis_watch(r, ctl_store_apikey_key(r, ref->tenant, ref->sha256, key), err) != CTL_EXIT_OK ||
        ctl_redis_hgetall(r, key, &ref->rec, err) != CTL_EXIT_OK)
        return CTL_EXIT_REDIS;
    if (ref->rec.count == 0)
        return ctl_fail(err, CTL_EXIT_REFUSED, "key id \"%s\" has no record under tenant %s", key_id, ref->tenant);
    return CTL_EXIT_OK;
}

/* A key id nobody has (the index is watched by the caller). */
static int pick_key_id(ctl_redis_t *r, ctl_new_key_t *k, ctl_err_t *err)
{
    char index[SC_SCHEMA_KEY_MAX];
    ctl_store_global_key(r, "keyid-index", index);
    for (int i = 0; i != KEY_ID_TRIES; ++i) {
        if (ctl_keygen_key_id(k) != 0)
            return ctl_fail(err, CTL_EXIT_REFUSED, "the random number generator failed");
        redisReply *reply = ctl_redis_cmd(r, err, "HEXISTS", index, k->key_id, NULL);
        if (reply == NULL)
            return CTL_EXIT_REDIS;
        int taken = reply->type == REDIS_REPLY_INTEGER && reply->integer != 0;
        freeReplyObject(reply);
        if (!taken)
            return CTL_EXIT_OK;
    }
    return ctl_fail(err, CTL_EXIT_REFUSED, "could not find an unused key id after %d tries", KEY_ID_TRIES);
}

/* Queues a new key's record and index entries, and announces its hash (a sidecar may have cached its absence). */
static void queue_new_key(ctl_redis_t *r, ctl_tx_t *tx, const char *tenant, const ctl_new_key_t *k, const ctl_record_t *rec)
{
    char key[SC_SCHEMA_KEY_MAX];
    ctl_tx_write_record(tx, ctl_store_apikey_key(r, tenant, k->sha256, key), rec);
    ctl_tx_add(tx, "HSET", ctl_store_keyids_key(r, tenant, key), k->key_id, k->sha256, NULL);
    ctl_tx_add(tx, "HSET", ctl_store_global_key(r, "keyid-index", key), k->key_id, tenant, NULL);
    ctl_tx_invalidate(tx, tenant, k->sha256);
}

static void new_key_record(ctl_record_t *rec, const char *tenant, const ctl_new_key_t *k, const char *name, const char *scopes,
                           int64_t expires_at, int64_t now)
{
    ctl_record_set(rec, SC_FIELD_TENANT, tenant);
    ctl_record_set(rec, SC_FIELD_KEY_ID, k->key_id);
    if (name != NULL)
        ctl_record_set(rec, SC_FIELD_NAME, name);
    ctl_record_set(rec, SC_FIELD_SCOPES, scopes != NULL ? scopes : "");
    ctl_record_set(rec, SC_FIELD_STATUS, "active");
    ctl_record_setf(rec, SC_FIELD_EXPIRES_AT, "%lld", (long long)expires_at);
    ctl_record_setf(rec, SC_FIELD_CREATED_AT, "%lld", (long long)now);
}

typedef struct key_create {
    const ctl_env_t *env;
    ctl_new_key_t key;
} key_create_t;

static int prepare_key_create(ctl_redis_t *r, ctl_tx_t *tx, void *data, ctl_err_t *err)
{
    key_create_t *c = data;
    const ctl_args_t *a = c->env->args;
    char key[SC_SCHEMA_KEY_MAX], index[SC_SCHEMA_KEY_MAX];
    int exists, rc;

    if (ctl_redis_watch(r, ctl_store_tenant_key(r, a->target, key), err) != CTL_EXIT_OK ||
        ctl_redis_watch(r, ctl_store_global_key(r, "keyid-index", index), err) != CTL_EXIT_OK ||
        (exists = ctl_store_exists(r, key, err)) < 0)
        return CTL_EXIT_REDIS;
    if (!exists)
        return ctl_fail(err, CTL_EXIT_REFUSED, "unknown tenant \"%s\"", a->target);
    if ((rc = pick_key_id(r, &c->key, err)) != CTL_EXIT_OK)
        return rc;
    ctl_record_t rec = {0};
    new_key_record(&rec, a->target, &c->key, a->key_name, a->scopes,
                   (a->given & CTL_OPT_EXPIRES) != 0 ? c->env->now + a->expires_s : 0, c->env->now);
    queue_new_key(r, tx, a->target, &c->key, &rec);
    char *detail = ctl_record_describe(&rec); /* the record holds no secret */
    ctl_tx_audit(tx, "key.create", a->target, c->key.key_id, detail);
    free(detail);
    ctl_record_free(&rec);
    return CTL_EXIT_OK;
}

static int cmd_key_create(const ctl_env_t *env, ctl_err_t *err)
{
    key_create_t c = {.env = env};
    int rc = ctl_keygen_key(&c.key) == 0 ? CTL_EXIT_OK : ctl_fail(err, CTL_EXIT_REFUSED, "the random number generator failed");
    if (rc == CTL_EXIT_OK)
        rc = ctl_redis_transact(env->redis, prepare_key_create, &c, err);
    if (rc == CTL_EXIT_OK)
        rc = ctl_output_new_key(env->args->json, &c.key, NULL, err);
    ctl_keygen_wipe(&c.key);
    return rc;
}

static int cmd_key_list(const ctl_env_t *env, ctl_err_t *err)
{
    ctl_record_t rec = {0};
    ctl_key_list_t keys = {0};
    int rc = ctl_store_read_tenant(env->redis, env->args->target, &rec, err);
    if (rc == CTL_EXIT_OK)
        rc = ctl_store_read_keys(env->redis, env->args->target, 1, &keys, err);
    if (rc == CTL_EXIT_OK)
        rc = ctl_output_key_list(env->args->json, &keys, env->now, err);
    ctl_record_free(&rec);
    ctl_key_list_free(&keys);
    return rc;
}

typedef struct key_revoke {
    const char *key_id;
    char tenant[SC_TENANT_ID_MAX + 1]; /* found under WATCH */
} key_revoke_t;

static int prepare_key_revoke(ctl_redis_t *r, ctl_tx_t *tx, void *data, ctl_err_t *err)
{
    key_revoke_t *c = data;
    char key[SC_SCHEMA_KEY_MAX];
    key_ref_t ref = {"", "", {0}};
    int rc = watch_key(r, c->key_id, &ref, err);
    if (rc == CTL_EXIT_OK) {
        ctl_record_t change = {0};
        ctl_record_set(&change, SC_FIELD_STATUS, "revoked");
        ctl_tx_write_record(tx, ctl_store_apikey_key(r, ref.tenant, ref.sha256, key), &change);
        ctl_tx_audit(tx, "key.revoke", ref.tenant, c->key_id, "status=revoked");
        ctl_tx_invalidate(tx, ref.tenant, ref.sha256);
        ctl_record_free(&change);
        memcpy(c->tenant, ref.tenant, sizeof(c->tenant));
    }
    ctl_record_free(&ref.rec);
    return rc;
}

static int cmd_key_revoke(const ctl_env_t *env, ctl_err_t *err)
{
    key_revoke_t c = {env->args->target, ""};
    int rc = ctl_redis_transact(env->redis, prepare_key_revoke, &c, err);
    if (rc != CTL_EXIT_OK)
        return rc;
    char *human = ctl_xasprintf("key %s of tenant %s revoked", c.key_id, c.tenant);
    rc = ctl_output_done(env->args->json, "key.revoke", c.tenant, c.key_id, human, err);
    free(human);
    return rc;
}

typedef struct key_rotate {
    const ctl_env_t *env;
    ctl_new_key_t key;
    char tenant[SC_TENANT_ID_MAX + 1];
    int64_t old_expires_at; /* after the rotation; 0: revoked */
} key_rotate_t;

static int64_t record_time(const ctl_record_t *rec, const char *name)
{
    const char *v = ctl_record_get(rec, name);
    return v != NULL ? strtoll(v, NULL, 10) : 0;
}

/*
 * The replacement lives as long as the old key was meant to (its expires_at - created_at) from
 * now; without a created_at it keeps the old absolute expiry, so rotating never makes a
 * credential that outlives the one it replaces by more than that.
 */
static int64_t replacement_expiry(const ctl_record_t *old, int64_t now)
{
    int64_t expires = record_time(old, SC_FIELD_EXPIRES_AT), created = record_time(old, SC_FIELD_CREATED_AT);
    if (expires == 0)
        return 0;
    return created > 0 && expires > created ? now + (expires - created) : expires;
}

/* The old key ends now (grace 0: revoked) or at now + grace, never later than it would have. */
static void retire_old_key(key_rotate_t *c, const ctl_record_t *old, ctl_record_t *change)
{
    int64_t now = c->env->now, grace = c->env->args->grace_s, expires = record_time(old, SC_FIELD_EXPIRES_AT);
    if (grace == 0) {
        ctl_record_set(change, SC_FIELD_STATUS, "revoked");
        c->old_expires_at = 0;
        return;
    }
    c->old_expires_at = expires != 0 && expires < now + grace ? expires : now + grace;
    ctl_record_setf(change, SC_FIELD_EXPIRES_AT, "%lld", (long long)c->old_expires_at);
}

/* Queues the new key and the old key's end, once the old key is known to be rotatable. */
static void queue_rotation(ctl_redis_t *r, ctl_tx_t *tx, key_rotate_t *c, const key_ref_t *old)
{
    const ctl_record_t *o = &old->rec;
    const char *old_id = c->env->args->target;
    char key[SC_SCHEMA_KEY_MAX];
    ctl_record_t rec = {0}, change = {0};
    new_key_record(&rec, old->tenant, &c->key, ctl_record_get(o, SC_FIELD_NAME), ctl_record_get(o, SC_FIELD_SCOPES),
                   replacement_expiry(o, c->env->now), c->env->now);
    queue_new_key(r, tx, old->tenant, &c->key, &rec);
    retire_old_key(c, o, &change);
    ctl_tx_write_record(tx, ctl_store_apikey_key(r, old->tenant, old->sha256, key), &change);
    ctl_tx_invalidate(tx, old->tenant, old->sha256);
    char *detail = c->old_expires_at == 0
                       ? ctl_xasprintf("new key_id=%s; old key revoked", c->key.key_id)
                       : ctl_xasprintf("new key_id=%s; old key expires_at=%lld", c->key.key_id, (long long)c->old_expires_at);
    ctl_tx_audit(tx, "key.rotate", old->tenant, old_id, detail);
    free(detail);
    ctl_record_free(&rec);
    ctl_record_free(&change);
}

static int prepare_key_rotate(ctl_redis_t *r, ctl_tx_t *tx, void *data, ctl_err_t *err)
{
    key_rotate_t *c = data;
    const char *old_id = c->env->args->target;
    char key[SC_SCHEMA_KEY_MAX];
    key_ref_t old = {"", "", {0}};
    int rc = watch_key(r, old_id, &old, err), exists = 0;
    const char *status = ctl_record_get(&old.rec, SC_FIELD_STATUS);
    int64_t expires = record_time(&old.rec, SC_FIELD_EXPIRES_AT);

    if (rc == CTL_EXIT_OK && (status == NULL || strcmp(status, "active") != 0 || (expires != 0 && expires <= c->env->now)))
        rc = ctl_fail(err, CTL_EXIT_REFUSED, "key %s is revoked or expired: make a new one with key create", old_id);
    if (rc == CTL_EXIT_OK && (exists = ctl_store_exists(r, ctl_store_tenant_key(r, old.tenant, key), err)) < 0)
        rc = CTL_EXIT_REDIS;
    if (rc == CTL_EXIT_OK && !exists)
        rc = ctl_fail(err, CTL_EXIT_REFUSED, "unknown tenant \"%s\" (key %s outlived it)", old.tenant, old_id);
    if (rc == CTL_EXIT_OK)
        rc = pick_key_id(r, &c->key, err);
    if (rc == CTL_EXIT_OK) {
        memcpy(c->tenant, old.tenant, sizeof(c->tenant));
        queue_rotation(r, tx, c, &old);
    }
    ctl_record_free(&old.rec);
    return rc;
}

static int cmd_key_rotate(const ctl_env_t *env, ctl_err_t *err)
{
    key_rotate_t c = {.env = env};
    int rc = ctl_keygen_key(&c.key) == 0 ? CTL_EXIT_OK : ctl_fail(err, CTL_EXIT_REFUSED, "the random number generator failed");
    if (rc == CTL_EXIT_OK)
        rc = ctl_redis_transact(env->redis, prepare_key_rotate, &c, err);
    if (rc == CTL_EXIT_OK) {
        ctl_rotation_t rotation = {env->args->target, c.tenant, c.old_expires_at};
        rc = ctl_output_new_key(env->args->json, &c.key, &rotation, err);
    }
    ctl_keygen_wipe(&c.key);
    return rc;
}

/* ------------------------------------------------------------------ dispatch */

int ctl_commands_run(const ctl_env_t *env, ctl_err_t *err)
{
    switch (env->args->command) {
    case CTL_CMD_TENANT_CREATE:
    case CTL_CMD_TENANT_UPDATE:
    case CTL_CMD_TENANT_SUSPEND:
    case CTL_CMD_TENANT_ACTIVATE:
        return cmd_tenant_change(env, err);
    case CTL_CMD_TENANT_DELETE:
        return cmd_tenant_delete(env, err);
    case CTL_CMD_TENANT_GET:
        return cmd_tenant_get(env, err);
    case CTL_CMD_TENANT_LIST:
        return cmd_tenant_list(env, err);
    case CTL_CMD_KEY_CREATE:
        return cmd_key_create(env, err);
    case CTL_CMD_KEY_LIST:
        return cmd_key_list(env, err);
    case CTL_CMD_KEY_REVOKE:
        return cmd_key_revoke(env, err);
    case CTL_CMD_KEY_ROTATE:
        return cmd_key_rotate(env, err);
    default:
        return ctl_fail(err, CTL_EXIT_USAGE, "%s is not a tenant or key command", env->args->command_name);
    }
}
