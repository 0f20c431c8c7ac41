#include "ctl_audit.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl_output.h"
#include "ctl_store.h"

/* The value of field `name` in a stream entry's [name, value, ...] array; NULL when absent. */
static const char *field(const redisReply *fields, const char *name)
{
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (fields->element[i]->type == REDIS_REPLY_STRING && fields->element[i + 1]->type == REDIS_REPLY_STRING &&
            strcmp(fields->element[i]->str, name) == 0)
            return fields->element[i + 1]->str;
    return NULL;
}

/* An entry's time: its "at" field, else the stream id's milliseconds. */
static void entry_time(const char *id, const char *at, char *buf, size_t size)
{
    time_t t = (time_t)(at != NULL ? strtoll(at, NULL, 10) : strtoll(id, NULL, 10) / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* One entry, printed or appended to `arr`; entries of other tenants are skipped. */
static void emit(const ctl_args_t *a, const redisReply *entry, json_t *arr)
{
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 || entry->element[0]->type != REDIS_REPLY_STRING ||
        entry->element[1]->type != REDIS_REPLY_ARRAY)
        return;
    const char *id = entry->element[0]->str;
    const redisReply *f = entry->element[1];
    const char *tenant = field(f, "tenant"), *key_id = field(f, "key_id"), *at = field(f, "at");
    const char *actor = field(f, "actor"), *action = field(f, "action"), *detail = field(f, "detail");
    char when[32];
    if (a->tenant_filter != NULL && (tenant == NULL || strcmp(tenant, a->tenant_filter) != 0))
        return;
    entry_time(id, at, when, sizeof(when));
    if (arr != NULL) {
        json_t *o = json_object();
        json_object_set_new(o, "id", json_string(id));
        json_object_set_new(o, "at", json_string(when));
        json_object_set_new(o, "actor", actor != NULL ? json_string(actor) : json_null());
        json_object_set_new(o, "action", action != NULL ? json_string(action) : json_null());
        json_object_set_new(o, "tenant", tenant != NULL ? json_string(tenant) : json_null());
        json_object_set_new(o, "key_id", key_id != NULL ? json_string(key_id) : json_null());
        json_object_set_new(o, "detail", detail != NULL ? json_string(detail) : json_null());
        json_array_append_new(arr, o);
        return;
    }
    printf("%s  %s  %s  %s%s%s  %s\n", when, actor != NULL ? actor : "-", action != NULL ? action : "-",
           tenant != NULL ? tenant : "-", key_id != NULL ? "  key " : "", key_id != NULL ? key_id : "",
           detail != NULL ? detail : "");
}

int ctl_audit_run(const ctl_env_t *env, ctl_err_t *err)
{
    const ctl_args_t *a = env->args;
    char key[SC_SCHEMA_KEY_MAX], start[48] = "-", count[16];
    json_t *arr = a->json ? json_array() : NULL;
    int rc = CTL_EXIT_OK;

    ctl_store_global_key(env->redis, "audit", key);
    if ((a->given & CTL_OPT_SINCE) != 0) {
        int64_t since = a->since_absolute ? a->since_s : env->now - a->since_s;
        /* stream ids are milliseconds since the epoch: the first id at or after `since` */
        snprintf(start, sizeof(start), "%lld", (long long)(since > 0 ? since : 0) * 1000);
    }
    snprintf(count, sizeof(count), "%d", CTL_AUDIT_PAGE);
    for (;;) {
        redisReply *reply = ctl_redis_cmd(env->redis, err, "XRANGE", key, start, "+", "COUNT", count, NULL);
        if (reply == NULL) {
            rc = CTL_EXIT_REDIS;
            break;
        }
        if (reply->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(reply);
            rc = ctl_fail(err, CTL_EXIT_REDIS, "unexpected reply to XRANGE from Redis");
            break;
        }
        for (size_t i = 0; i != reply->elements; ++i)
            emit(a, reply->element[i], arr);
        size_t n = reply->elements;
        if (n != 0 && reply->element[n - 1]->type == REDIS_REPLY_ARRAY && reply->element[n - 1]->elements == 2 &&
            reply->element[n - 1]->element[0]->type == REDIS_REPLY_STRING)
            snprintf(start, sizeof(start), "(%s", reply->element[n - 1]->element[0]->str); /* exclusive: the next page */
        freeReplyObject(reply);
        if (n < CTL_AUDIT_PAGE)
            break;
    }
    if (rc != CTL_EXIT_OK) {
        json_decref(arr);
        return rc;
    }
    if (arr != NULL)
        return ctl_output_json(arr, err);
    return fflush(stdout) == 0 ? CTL_EXIT_OK : ctl_fail(err, CTL_EXIT_REFUSED, "cannot write to standard output");
}
