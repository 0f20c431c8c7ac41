#include "ctl_transfer.h"

#include <stdlib.h>
#include <string.h>

#include "ctl_args.h"
#include "ctl_commands.h"
#include "ctl_output.h"
#include "ctl_store.h"
#include "schema.h"
#include "text.h"

#define EXPORT_FORMAT "sidecarctl-export"
#define EXPORT_VERSION 1

/* ------------------------------------------------------------------ export */

static json_t *export_tenant(ctl_redis_t *r, const char *id, ctl_err_t *err, int *rc)
{
    ctl_record_t rec = {0};
    ctl_key_list_t keys = {0};
    json_t *obj = NULL;
    if ((*rc = ctl_store_read_tenant(r, id, &rec, err)) == CTL_EXIT_REFUSED)
        *rc = CTL_EXIT_OK; /* listed but deleted meanwhile: not part of the export */
    else if (*rc == CTL_EXIT_OK && (*rc = ctl_store_read_keys(r, id, 1, &keys, err)) == CTL_EXIT_OK) {
        obj = ctl_output_tenant_json(id, &rec);
        json_t *arr = json_array();
        for (size_t i = 0; i != keys.count; ++i)
            if (keys.items[i].rec.count != 0)
                json_array_append_new(arr, ctl_output_key_json(&keys.items[i]));
        json_object_set_new(obj, "keys", arr);
    }
    ctl_record_free(&rec);
    ctl_key_list_free(&keys);
    return obj;
}

int ctl_export(ctl_redis_t *r, int64_t now, ctl_err_t *err)
{
    char **ids = NULL;
    size_t n = 0;
    int rc = ctl_store_read_tenant_ids(r, &ids, &n, err);
    json_t *doc = json_object(), *tenants = json_array();
    json_object_set_new(doc, "format", json_string(EXPORT_FORMAT));
    json_object_set_new(doc, "version", json_integer(EXPORT_VERSION));
    json_object_set_new(doc, "exported_at", json_integer(now));
    json_object_set_new(doc, "tenants", tenants);
    for (size_t i = 0; rc == CTL_EXIT_OK && i != n; ++i) {
        json_t *t = export_tenant(r, ids[i], err, &rc);
        if (t != NULL)
            json_array_append_new(tenants, t);
    }
    sc_words_free(ids, n);
    if (rc != CTL_EXIT_OK) {
        json_decref(doc);
        return rc;
    }
    return ctl_output_json(doc, err);
}

/* ------------------------------------------------------------------ import: loading */

typedef struct import_key {
    char *sha256;
    ctl_record_t rec;
} import_key_t;

typedef struct import_tenant {
    char *id;
    ctl_record_t rec;
    import_key_t *keys;
    size_t num_keys;
} import_tenant_t;

struct ctl_import {
    const char *path;
    import_tenant_t *tenants;
    size_t count;
    size_t num_keys;
};

static int sha256_hex_valid(const char *s)
{
    return strlen(s) == SC_SHA256_HEX_LEN && strspn(s, "0123456789abcdef") == SC_SHA256_HEX_LEN;
}

/* Every key id and hash appears once in the whole file. */
static int check_unique_key(const ctl_import_t *im, const import_key_t *k, const char *where, ctl_err_t *err)
{
    const char *id = ctl_record_get(&k->rec, SC_FIELD_KEY_ID);
    for (size_t t = 0; t != im->count; ++t)
        for (size_t i = 0; i != im->tenants[t].num_keys; ++i) {
            const import_key_t *other = &im->tenants[t].keys[i];
            if (other == k)
                return CTL_EXIT_OK;
            if (strcmp(ctl_record_get(&other->rec, SC_FIELD_KEY_ID), id) == 0 || strcmp(other->sha256, k->sha256) == 0)
                return ctl_fail(err, CTL_EXIT_USAGE, "%s: %s: key id or hash already appears under tenant %s", im->path, where,
                                im->tenants[t].id);
        }
    return CTL_EXIT_OK;
}

static int load_key(ctl_import_t *im, import_tenant_t *t, const json_t *obj, const char *where, ctl_err_t *err)
{
    static const char *const skip[] = {"sha256", NULL};
    import_key_t *k = &t->keys[t->num_keys++];
    const char *sha = json_string_value(json_object_get(obj, "sha256"));
    int rc;
    if (json_is_object(obj) && (sha == NULL || !sha256_hex_valid(sha)))
        return ctl_fail(err, CTL_EXIT_USAGE, "%s: %s.sha256: must be 64 lower-case hex digits", im->path, where);
    if ((rc = ctl_record_from_json(CTL_RECORD_KEY, obj, skip, &k->rec, where, err)) != CTL_EXIT_OK ||
        (rc = ctl_record_validate(CTL_RECORD_KEY, t->id, &k->rec, where, err)) != CTL_EXIT_OK)
        return ctl_fail_prefix(err, rc, "%s: ", im->path);
    k->sha256 = ctl_xstrdup(sha);
    ++im->num_keys;
    return check_unique_key(im, k, where, err);
}

static int load_keys(ctl_import_t *im, import_tenant_t *t, const json_t *keys, const char *where, ctl_err_t *err)
{
    size_t i;
    const json_t *obj;
    if (keys == NULL)
        return CTL_EXIT_OK;
    if (!json_is_array(keys))
        return ctl_fail(err, CTL_EXIT_USAGE, "%s: %s.keys: must be an array", im->path, where);
    t->keys = ctl_xmalloc(json_array_size(keys) * sizeof(*t->keys));
    memset(t->keys, 0, json_array_size(keys) * sizeof(*t->keys));
    json_array_foreach(keys, i, obj)
    {
        char kwhere[96];
        snprintf(kwhere, sizeof(kwhere), "%s.keys[%zu]", where, i);
        int rc = load_key(im, t, obj, kwhere, err);
        if (rc != CTL_EXIT_OK)
            return rc;
    }
    return CTL_EXIT_OK;
}

static int load_tenant(ctl_import_t *im, const json_t *obj, const sc_config_t *host, const char *where, ctl_err_t *err)
{
    static const char *const skip[] = {"id", "keys", NULL};
    import_tenant_t *t = &im->tenants[im->count++];
    const char *id = json_string_value(json_object_get(obj, "id")), *services;
    int rc;
    if (id == NULL || !sc_text_tenant_id_valid(id, strlen(id)))
        return ctl_fail(err, CTL_EXIT_USAGE, "%s: %s.id: must be a tenant ID (1 to 64 of A-Z a-z 0-9 . _ -)", im->path, where);
    for (size_t i = 0; i + 1 < im->count; ++i)
        if (strcmp(im->tenants[i].id, id) == 0)
            return ctl_fail(err, CTL_EXIT_USAGE, "%s: %s: tenant %s appears twice", im->path, where, id);
    t->id = ctl_xstrdup(id);
    if ((rc = ctl_record_from_json(CTL_RECORD_TENANT, obj, skip, &t->rec, where, err)) != CTL_EXIT_OK ||
        (rc = ctl_record_validate(CTL_RECORD_TENANT, id, &t->rec, where, err)) != CTL_EXIT_OK ||
        ((services = ctl_record_get(&t->rec, SC_FIELD_SERVICES)) != NULL &&
         (rc = ctl_check_services(host, services, where, err)) != 0))
        return ctl_fail_prefix(err, rc, "%s: ", im->path);
    return load_keys(im, t, json_object_get(obj, "keys"), where, err);
}

static int known_member(const char *name)
{
    static const char *const members[] = {"format", "version", "exported_at", "tenants"};
    for (size_t i = 0; i != sizeof(members) / sizeof(members[0]); ++i)
        if (strcmp(name, members[i]) == 0)
            return 1;
    return 0;
}

static int load_document(ctl_import_t *im, const json_t *doc, const sc_config_t *host, ctl_err_t *err)
{
    const json_t *tenants = json_object_get(doc, "tenants"), *t;
    const char *name;
    const json_t *v;
    size_t i;
    if (!json_is_object(doc) || !json_is_string(json_object_get(doc, "format")) ||
        strcmp(json_string_value(json_object_get(doc, "format")), EXPORT_FORMAT) != 0)
        return ctl_fail(err, CTL_EXIT_USAGE, "%s: not a sidecarctl export (\"format\": \"%s\" is missing)", im->path,
                        EXPORT_FORMAT);
    if (json_integer_value(json_object_get(doc, "version")) != EXPORT_VERSION)
        return ctl_fail(err, CTL_EXIT_USAGE, "%s: version: only version %d is understood", im->path, EXPORT_VERSION);
    json_object_foreach((json_t *)doc, name, v)
    {
        if (!known_member(name))
            return ctl_fail(err, CTL_EXIT_USAGE, "%s: unknown field \"%s\"", im->path, name);
    }
    if (!json_is_array(tenants))
        return ctl_fail(err, CTL_EXIT_USAGE, "%s: tenants: must be an array", im->path);
    im->tenants = ctl_xmalloc(json_array_size(tenants) * sizeof(*im->tenants));
    memset(im->tenants, 0, json_array_size(tenants) * sizeof(*im->tenants));
    json_array_foreach(tenants, i, t)
    {
        char where[32];
        snprintf(where, sizeof(where), "tenants[%zu]", i);
        int rc = load_tenant(im, t, host, where, err);
        if (rc != CTL_EXIT_OK)
            return rc;
    }
    return CTL_EXIT_OK;
}

int ctl_import_load(const char *path, const sc_config_t *host, ctl_import_t **out, ctl_err_t *err)
{
    json_error_t jerr;
    ctl_import_t *im = ctl_xmalloc(sizeof(*im));
    *im = (ctl_import_t){.path = strcmp(path, "-") == 0 ? "(stdin)" : path};
    json_t *doc = strcmp(path, "-") == 0 ? json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr)
                                         : json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    int rc = doc == NULL ? ctl_fail(err, CTL_EXIT_USAGE, "%s:%d:%d: %s", im->path, jerr.line, jerr.column, jerr.text)
                         : load_document(im, doc, host, err);
    json_decref(doc);
    if (rc != CTL_EXIT_OK) {
        ctl_import_free(im);
        return rc;
    }
    *out = im;
    return CTL_EXIT_OK;
}

void ctl_import_free(ctl_import_t *im)
{
    if (im == NULL)
        return;
    for (size_t t = 0; t != im->count; ++t) {
        import_tenant_t *it = &im->tenants[t];
        for (size_t i = 0; i != it->num_keys; ++i) {
            free(it->keys[i].sha256);
            ctl_record_free(&it->keys[i].rec);
        }
        free(it->keys);
        free(it->id);
        ctl_record_free(&it->rec);
    }
    free(im->tenants);
    free(im);
}

/* ------------------------------------------------------------------ import: writing */

/* A key id of the file that the index gives to another tenant would leave two owners. */
static int check_key_owners(ctl_redis_t *r, const ctl_import_t *im, ctl_err_t *err)
{
    char index[SC_SCHEMA_KEY_MAX];
    ctl_store_global_key(r, "keyid-index", index);
    for (size_t t = 0; t != im->count; ++t)
        for (size_t i = 0; i != im->tenants[t].num_keys; ++i) {
            const char *id = ctl_record_get(&im->tenants[t].keys[i].rec, SC_FIELD_KEY_ID);
            redisReply *reply = ctl_redis_cmd(r, err, "HGET", index, id, NULL);
            if (reply == NULL)
                return CTL_EXIT_REDIS;
            int clash = reply->type == REDIS_REPLY_STRING && strcmp(reply->str, im->tenants[t].id) != 0;
            int rc = clash ? ctl_fail(err, CTL_EXIT_REFUSED, "key id %s belongs to tenant %s in Redis, not %s: nothing imported",
                                      id, reply->str, im->tenants[t].id)
                           : CTL_EXIT_OK;
            freeReplyObject(reply);
            if (rc != CTL_EXIT_OK)
                return rc;
        }
    return CTL_EXIT_OK;
}

/* Replaces the tenant's record, its keys, and their index entries. */
static int prepare_import_tenant(ctl_redis_t *r, ctl_tx_t *tx, void *data, ctl_err_t *err)
{
    const import_tenant_t *t = data;
    char key[SC_SCHEMA_KEY_MAX], keyids[SC_SCHEMA_KEY_MAX], global[SC_SCHEMA_KEY_MAX];
    ctl_key_list_t old = {0};

    if (ctl_redis_watch(r, ctl_store_tenant_key(r, t->id, key), err) != CTL_EXIT_OK ||
        ctl_redis_watch(r, ctl_store_keyids_key(r, t->id, keyids), err) != CTL_EXIT_OK ||
        ctl_store_read_keys(r, t->id, 0, &old, err) != CTL_EXIT_OK)
        return CTL_EXIT_REDIS;
    ctl_tx_add(tx, "DEL", key, keyids, NULL);
    ctl_tx_write_record(tx, key, &t->rec);
    ctl_tx_add(tx, "SADD", ctl_store_global_key(r, "tenants", global), t->id, NULL);
    for (size_t i = 0; i != old.count; ++i) {
        ctl_tx_add(tx, "DEL", ctl_store_apikey_key(r, t->id, old.items[i].sha256, key), NULL);
        ctl_tx_add(tx, "HDEL", ctl_store_global_key(r, "keyid-index", global), old.items[i].key_id, NULL);
        ctl_tx_invalidate(tx, t->id, old.items[i].sha256);
    }
    for (size_t i = 0; i != t->num_keys; ++i) {
        const char *key_id = ctl_record_get(&t->keys[i].rec, SC_FIELD_KEY_ID);
        ctl_tx_add(tx, "DEL", ctl_store_apikey_key(r, t->id, t->keys[i].sha256, key), NULL);
        ctl_tx_write_record(tx, key, &t->keys[i].rec);
        ctl_tx_add(tx, "HSET", keyids, key_id, t->keys[i].sha256, NULL);
        ctl_tx_add(tx, "HSET", ctl_store_global_key(r, "keyid-index", global), key_id, t->id, NULL);
        ctl_tx_invalidate(tx, t->id, t->keys[i].sha256);
    }
    char *detail = ctl_xasprintf("replaced: %zu API key%s (had %zu)", t->num_keys, t->num_keys == 1 ? "" : "s", old.count);
    ctl_tx_audit(tx, "tenant.import", t->id, NULL, detail);
    free(detail);
    ctl_tx_invalidate(tx, t->id, NULL);
    ctl_key_list_free(&old);
    return CTL_EXIT_OK;
}

static int report_import(const ctl_import_t *im, int json, ctl_err_t *err)
{
    if (json) {
        json_t *obj = json_object();
        json_object_set_new(obj, "action", json_string("import"));
        json_object_set_new(obj, "tenants", json_integer((json_int_t)im->count));
        json_object_set_new(obj, "keys", json_integer((json_int_t)im->num_keys));
        return ctl_output_json(obj, err);
    }
    printf("imported %zu tenant%s and %zu API key%s\n", im->count, im->count == 1 ? "" : "s", im->num_keys,
           im->num_keys == 1 ? "" : "s");
    return fflush(stdout) == 0 ? CTL_EXIT_OK : ctl_fail(err, CTL_EXIT_REFUSED, "cannot write to standard output");
}

int ctl_import_write(ctl_redis_t *r, const ctl_import_t *im, int json, ctl_err_t *err)
{
    int rc = check_key_owners(r, im, err);
    for (size_t t = 0; rc == CTL_EXIT_OK && t != im->count; ++t) {
        if ((rc = ctl_redis_transact(r, prepare_import_tenant, &im->tenants[t], err)) != CTL_EXIT_OK)
            ctl_fail_prefix(err, rc, "import stopped at tenant %s (%zu of %zu written): ", im->tenants[t].id, t, im->count);
    }
    return rc == CTL_EXIT_OK ? report_import(im, json, err) : rc;
}

/* ------------------------------------------------------------------ import --dry-run */

/* Names of the fields whose values differ between two records (either side may lack one). */
static json_t *changed_fields(const ctl_record_t *now, const ctl_record_t *next)
{
    json_t *names = json_array();
    const ctl_record_t *sides[] = {now, next};
    for (size_t s = 0; s != 2; ++s)
        for (size_t i = 0; i != sides[s]->count; ++i) {
            const char *name = sides[s]->names[i], *a = ctl_record_get(now, name), *b = ctl_record_get(next, name);
            if (s == 1 && a != NULL)
                continue; /* compared from the first side already */
            if (a == NULL || b == NULL || strcmp(a, b) != 0)
                json_array_append_new(names, json_string(name));
        }
    return names;
}

static int has_key(const ctl_key_list_t *keys, const char *key_id, const char *sha256)
{
    for (size_t i = 0; i != keys->count; ++i)
        if (strcmp(keys->items[i].key_id, key_id) == 0 && (sha256 == NULL || strcmp(keys->items[i].sha256, sha256) == 0))
            return 1;
    return 0;
}

/* What importing tenant t would do: {"id", "change": "create"|"replace"|"none", "fields",
 * "keys_added", "keys_removed", "keys_changed"}. NULL with *rc set on a Redis error. */
static json_t *plan_tenant(ctl_redis_t *r, const import_tenant_t *t, ctl_err_t *err, int *rc)
{
    ctl_record_t now = {0};
    ctl_key_list_t keys = {0};
    int exists = 1;
    if ((*rc = ctl_store_read_tenant(r, t->id, &now, err)) == CTL_EXIT_REFUSED)
        exists = 0, *rc = CTL_EXIT_OK;
    if (*rc == CTL_EXIT_OK)
        *rc = ctl_store_read_keys(r, t->id, 1, &keys, err);
    if (*rc != CTL_EXIT_OK) {
        ctl_record_free(&now);
        ctl_key_list_free(&keys);
        return NULL;
    }
    json_t *o = json_object(), *added = json_array(), *removed = json_array(), *changed = json_array();
    json_t *fields = changed_fields(&now, &t->rec);
    for (size_t i = 0; i != t->num_keys; ++i) {
        const char *id = ctl_record_get(&t->keys[i].rec, SC_FIELD_KEY_ID);
        if (!has_key(&keys, id, NULL))
            json_array_append_new(added, json_string(id));
        else if (!has_key(&keys, id, t->keys[i].sha256))
            json_array_append_new(changed, json_string(id));
        else
            for (size_t k = 0; k != keys.count; ++k) {
                json_t *diff = strcmp(keys.items[k].key_id, id) == 0 ? changed_fields(&keys.items[k].rec, &t->keys[i].rec) : NULL;
                if (diff != NULL && json_array_size(diff) != 0)
                    json_array_append_new(changed, json_string(id));
                json_decref(diff);
            }
    }
    for (size_t k = 0; k != keys.count; ++k) {
        int kept = 0;
        for (size_t i = 0; i != t->num_keys && !kept; ++i)
            kept = strcmp(keys.items[k].key_id, ctl_record_get(&t->keys[i].rec, SC_FIELD_KEY_ID)) == 0;
        if (!kept)
            json_array_append_new(removed, json_string(keys.items[k].key_id));
    }
    int same = json_array_size(fields) == 0 && json_array_size(added) == 0 && json_array_size(removed) == 0 &&
               json_array_size(changed) == 0;
    json_object_set_new(o, "id", json_string(t->id));
    json_object_set_new(o, "change", json_string(!exists ? "create" : same ? "none" : "replace"));
    json_object_set_new(o, "fields", fields);
    json_object_set_new(o, "keys_added", added);
    json_object_set_new(o, "keys_removed", removed);
    json_object_set_new(o, "keys_changed", changed);
    ctl_record_free(&now);
    ctl_key_list_free(&keys);
    return o;
}

/* "a, b" from a JSON array of strings, "-" when empty. */
static char *join_json(const json_t *arr)
{
    char *s = ctl_xstrdup("");
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        char *next = ctl_xasprintf("%s%s%s", s, i != 0 ? ", " : "", json_string_value(v));
        free(s);
        s = next;
    }
    if (*s == '\0') {
        free(s);
        s = ctl_xstrdup("-");
    }
    return s;
}

static void print_plan(const json_t *p)
{
    const char *change = json_string_value(json_object_get(p, "change")), *id = json_string_value(json_object_get(p, "id"));
    if (strcmp(change, "none") == 0) {
        printf("tenant %s: unchanged\n", id);
        return;
    }
    char *fields = join_json(json_object_get(p, "fields")), *added = join_json(json_object_get(p, "keys_added"));
    char *removed = join_json(json_object_get(p, "keys_removed")), *changed = join_json(json_object_get(p, "keys_changed"));
    printf("tenant %s: would be %s; fields: %s; API keys added: %s, removed: %s, changed: %s\n", id,
           strcmp(change, "create") == 0 ? "created" : "replaced", fields, added, removed, changed);
    free(fields);
    free(added);
    free(removed);
    free(changed);
}

int ctl_import_plan(ctl_redis_t *r, const ctl_import_t *im, int json, ctl_err_t *err)
{
    int rc = check_key_owners(r, im, err);
    json_t *plans = json_array();
    size_t changing = 0;
    for (size_t t = 0; rc == CTL_EXIT_OK && t != im->count; ++t) {
        json_t *p = plan_tenant(r, &im->tenants[t], err, &rc);
        if (p == NULL)
            break;
        changing += strcmp(json_string_value(json_object_get(p, "change")), "none") != 0;
        json_array_append_new(plans, p);
    }
    if (rc != CTL_EXIT_OK) {
        json_decref(plans);
        return rc;
    }
    if (json) {
        json_t *obj = json_object();
        json_object_set_new(obj, "action", json_string("import"));
        json_object_set_new(obj, "dry_run", json_true());
        json_object_set_new(obj, "tenants", plans);
        return ctl_output_json(obj, err);
    }
    size_t i;
    json_t *p;
    json_array_foreach(plans, i, p) print_plan(p);
    printf("dry run: nothing written (%zu of %zu tenant%s would change)\n", changing, im->count, im->count == 1 ? "" : "s");
    json_decref(plans);
    return fflush(stdout) == 0 ? CTL_EXIT_OK : ctl_fail(err, CTL_EXIT_REFUSED, "cannot write to standard output");
}
