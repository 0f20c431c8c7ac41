#include "ctl_store.h"

#include <stdlib.h>
#include <string.h>

const char *ctl_store_tenant_key(const ctl_redis_t *r, const char *tenant, char buf[SC_SCHEMA_KEY_MAX])
{
    sc_schema_tenant_key(buf, r->config->prefix, tenant, strlen(tenant));
    return buf;
}

const char *ctl_store_apikey_key(const ctl_redis_t *r, const char *tenant, const char *sha256, char buf[SC_SCHEMA_KEY_MAX])
{
    sc_schema_apikey_key(buf, r->config->prefix, tenant, strlen(tenant), sha256);
    return buf;
}

const char *ctl_store_keyids_key(const ctl_redis_t *r, const char *tenant, char buf[SC_SCHEMA_KEY_MAX])
{
    sc_schema_keyids_key(buf, r->config->prefix, tenant);
    return buf;
}

const char *ctl_store_global_key(const ctl_redis_t *r, const char *name, char buf[SC_SCHEMA_KEY_MAX])
{
    sc_schema_global_key(buf, r->config->prefix, name);
    return buf;
}

static int compare_entries(const void *a, const void *b)
{
    return strcmp(((const ctl_key_entry_t *)a)->key_id, ((const ctl_key_entry_t *)b)->key_id);
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* key id -> hash pairs of PREFIX{T}:keyids, unsorted, without records. */
static int read_keyids(ctl_redis_t *r, const char *tenant, ctl_key_list_t *out, ctl_err_t *err)
{
    char key[SC_SCHEMA_KEY_MAX];
    ctl_record_t pairs = {0};
    int rc = ctl_redis_hgetall(r, ctl_store_keyids_key(r, tenant, key), &pairs, err);
    if (rc != CTL_EXIT_OK)
        return rc;
    out->items = ctl_xmalloc(pairs.count * sizeof(*out->items));
    for (size_t i = 0; i != pairs.count; ++i)
        out->items[out->count++] = (ctl_key_entry_t){ctl_xstrdup(pairs.names[i]), ctl_xstrdup(pairs.values[i]), {0}};
    ctl_record_free(&pairs);
    return CTL_EXIT_OK;
}

int ctl_store_read_keys(ctl_redis_t *r, const char *tenant, int with_records, ctl_key_list_t *out, ctl_err_t *err)
{
    char key[SC_SCHEMA_KEY_MAX];
    int rc = read_keyids(r, tenant, out, err);
    for (size_t i = 0; rc == CTL_EXIT_OK && with_records && i != out->count; ++i)
        rc = ctl_redis_hgetall(r, ctl_store_apikey_key(r, tenant, out->items[i].sha256, key), &out->items[i].rec, err);
    if (rc == CTL_EXIT_OK && out->count > 1)
        qsort(out->items, out->count, sizeof(*out->items), compare_entries);
    return rc;
}

void ctl_key_list_free(ctl_key_list_t *list)
{
    for (size_t i = 0; i != list->count; ++i) {
        free(list->items[i].key_id);
        free(list->items[i].sha256);
        ctl_record_free(&list->items[i].rec);
    }
    free(list->items);
    *list = (ctl_key_list_t){0};
}

int ctl_store_read_tenant_ids(ctl_redis_t *r, char ***ids, size_t *count, ctl_err_t *err)
{
    char key[SC_SCHEMA_KEY_MAX];
    redisReply *reply = ctl_redis_cmd(r, err, "SMEMBERS", ctl_store_global_key(r, "tenants", key), NULL);
    if (reply == NULL)
        return CTL_EXIT_REDIS;
    *ids = ctl_xmalloc(reply->elements * sizeof(**ids));
    *count = 0;
    for (size_t i = 0; i != reply->elements; ++i)
        if (reply->element[i]->type == REDIS_REPLY_STRING)
            (*ids)[(*count)++] = ctl_xstrdup(reply->element[i]->str);
    freeReplyObject(reply);
    qsort(*ids, *count, sizeof(**ids), compare_strings);
    return CTL_EXIT_OK;
}

int ctl_store_read_tenant(ctl_redis_t *r, const char *tenant, ctl_record_t *rec, ctl_err_t *err)
{
    char key[SC_SCHEMA_KEY_MAX];
    int rc = ctl_redis_hgetall(r, ctl_store_tenant_key(r, tenant, key), rec, err);
    if (rc == CTL_EXIT_OK && rec->count == 0)
        return ctl_fail(err, CTL_EXIT_REFUSED, "unknown tenant \"%s\"", tenant);
    return rc;
}

int ctl_store_exists(ctl_redis_t *r, const char *key, ctl_err_t *err)
{
    redisReply *reply = ctl_redis_cmd(r, err, "EXISTS", key, NULL);
    if (reply == NULL)
        return -1;
    int exists = reply->type == REDIS_REPLY_INTEGER && reply->integer > 0;
    freeReplyObject(reply);
    return exists;
}

/* A key of the tenant's that counts requests: PREFIX{T}:rl, PREFIX{T}:rl:..., PREFIX{T}:quota:... */
static int is_counter(const char *key, size_t base_len)
{
    const char *rest = key + base_len;
    return strcmp(rest, "rl") == 0 || strncmp(rest, "rl:", 3) == 0 || strncmp(rest, "quota:", 6) == 0;
}

int ctl_store_scan_counters(ctl_redis_t *r, const char *tenant, char ***keys, size_t *count, ctl_err_t *err)
{
    char base[SC_SCHEMA_KEY_MAX], pattern[2 * SC_SCHEMA_KEY_MAX + 2], cursor[32] = "0";
    size_t base_len, n = 0, cap = 0;
    char **found = NULL;

    /* "PREFIX{T}:" is the tenant key's name without its last word; glob characters of the prefix
     * are escaped (tenant ids have none). */
    ctl_store_tenant_key(r, tenant, base);
    base_len = strlen(base) - strlen("tenant");
    base[base_len] = '\0';
    char *p = pattern;
    for (const char *c = base; *c != '\0'; ++c) {
        if (strchr("*?[]\\", *c) != NULL)
            *p++ = '\\';
        *p++ = *c;
    }
    strcpy(p, "*");

    do {
        redisReply *reply = ctl_redis_cmd(r, err, "SCAN", cursor, "MATCH", pattern, "COUNT", "1000", NULL);
        if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
            reply->element[0]->type != REDIS_REPLY_STRING || reply->element[1]->type != REDIS_REPLY_ARRAY) {
            int rc = reply == NULL ? CTL_EXIT_REDIS : ctl_fail(err, CTL_EXIT_REDIS, "unexpected reply to SCAN from Redis");
            freeReplyObject(reply);
            sc_words_free(found, n);
            return rc;
        }
        snprintf(cursor, sizeof(cursor), "%s", reply->element[0]->str);
        for (size_t i = 0; i != reply->element[1]->elements; ++i) {
            const redisReply *k = reply->element[1]->element[i];
            if (k->type != REDIS_REPLY_STRING || !is_counter(k->str, base_len))
                continue;
            if (n == cap) {
                cap = cap != 0 ? 2 * cap : 8;
                found = ctl_xrealloc(found, cap * sizeof(*found));
            }
            found[n++] = ctl_xstrdup(k->str);
        }
        freeReplyObject(reply);
    } while (strcmp(cursor, "0") != 0);
    *keys = found;
    *count = n;
    return CTL_EXIT_OK;
}
