#include "ctl_record.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "ctl_args.h"
#include "schema.h"

static const sc_record_field_t *fields_of(ctl_record_kind_t kind)
{
    return kind == CTL_RECORD_TENANT ? sc_tenant_record_fields : sc_apikey_record_fields;
}

static const sc_record_field_t *find_field(ctl_record_kind_t kind, const char *name)
{
    for (const sc_record_field_t *f = fields_of(kind); f->name != NULL; ++f)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

const char *ctl_record_field_name(ctl_record_kind_t kind, size_t i)
{
    return fields_of(kind)[i].name; /* the tables end with a NULL name */
}

/* ------------------------------------------------------------------ the field list */

void ctl_record_free(ctl_record_t *rec)
{
    for (size_t i = 0; i != rec->count; ++i) {
        free(rec->names[i]);
        free(rec->values[i]);
    }
    free(rec->names);
    free(rec->values);
    *rec = (ctl_record_t){0};
}

static ssize_t index_of(const ctl_record_t *rec, const char *name)
{
    for (size_t i = 0; i != rec->count; ++i)
        if (strcmp(rec->names[i], name) == 0)
            return (ssize_t)i;
    return -1;
}

/* Takes ownership of `value`. */
static void set_owned(ctl_record_t *rec, const char *name, char *value)
{
    ssize_t i = index_of(rec, name);
    if (i >= 0) {
        free(rec->values[i]);
        rec->values[i] = value;
        return;
    }
    rec->names = ctl_xrealloc(rec->names, (rec->count + 1) * sizeof(*rec->names));
    rec->values = ctl_xrealloc(rec->values, (rec->count + 1) * sizeof(*rec->values));
    rec->names[rec->count] = ctl_xstrdup(name);
    rec->values[rec->count++] = value;
}

void ctl_record_set(ctl_record_t *rec, const char *name, const char *value)
{
    set_owned(rec, name, value != NULL ? ctl_xstrdup(value) : NULL);
}

void ctl_record_setf(ctl_record_t *rec, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_owned(rec, name, ctl_xvasprintf(fmt, ap));
    va_end(ap);
}

const char *ctl_record_get(const ctl_record_t *rec, const char *name)
{
    ssize_t i = index_of(rec, name);
    return i >= 0 ? rec->values[i] : NULL;
}

int ctl_record_from_reply(ctl_record_t *rec, const redisReply *reply)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2 != 0)
        return -1;
    for (size_t i = 0; i != reply->elements; ++i)
        if (reply->element[i]->type != REDIS_REPLY_STRING || strlen(reply->element[i]->str) != reply->element[i]->len)
            return -1;
    for (size_t i = 0; i < reply->elements; i += 2)
        ctl_record_set(rec, reply->element[i]->str, reply->element[i + 1]->str);
    return 0;
}

char *ctl_record_describe(const ctl_record_t *rec)
{
    char *s = ctl_xstrdup("");
    for (size_t i = 0; i != rec->count; ++i) {
        char *next =
            ctl_xasprintf("%s%s%s=%s", s, i != 0 ? " " : "", rec->names[i], rec->values[i] != NULL ? rec->values[i] : "(removed)");
        free(s);
        s = next;
    }
    return s;
}

/* ------------------------------------------------------------------ validation */

/* A stored count or time: decimal digits, within a JSON integer (int64). Returns 0 or -1. */
static int parse_stored_uint(const char *s, uint64_t *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 19 || strspn(s, "0123456789") != n)
        return -1;
    *out = strtoull(s, NULL, 10);
    return *out <= INT64_MAX ? 0 : -1;
}

/* The sidecar's verdict on the record (as HGETALL would return it). 0, or -1 with a reason. */
static int sidecar_accepts(ctl_record_kind_t kind, const char *tenant, const char **strs, const size_t *lens, size_t n,
                           char *reason, size_t size)
{
    if (kind == CTL_RECORD_TENANT) {
        sc_tenant_record_t *t = NULL;
        int rc = sc_schema_tenant_parse(tenant, strs, lens, n, &t, reason, size);
        sc_schema_tenant_free(t);
        return rc;
    }
    sc_apikey_record_t *k = NULL;
    int rc = sc_schema_apikey_parse(strs, lens, n, &k, reason, size);
    if (rc == 0 && strcmp(k->tenant, tenant) != 0) {
        snprintf(reason, size, "the key belongs to tenant \"%s\", not \"%s\"", k->tenant, tenant);
        rc = -1;
    } else if (rc == 0 && !ctl_key_id_valid(k->key_id)) {
        snprintf(reason, size, "invalid key_id \"%s\"", k->key_id);
        rc = -1;
    }
    sc_schema_apikey_free(k);
    return rc;
}

int ctl_record_validate(ctl_record_kind_t kind, const char *tenant, const ctl_record_t *rec, const char *where, ctl_err_t *err)
{
    const char *strs[64];
    size_t lens[64], n = 0;
    char reason[256];
    uint64_t u;

    if (rec->count > sizeof(strs) / sizeof(strs[0]) / 2)
        return ctl_fail(err, CTL_EXIT_USAGE, "%s: too many fields", where);
    for (size_t i = 0; i != rec->count; ++i) {
        const sc_record_field_t *f = find_field(kind, rec->names[i]);
        if (rec->values[i] == NULL)
            continue;
        if (f != NULL && f->type == SC_RECORD_UINT && parse_stored_uint(rec->values[i], &u) != 0)
            return ctl_fail(err, CTL_EXIT_USAGE, "%s: field %s must be a whole number", where, rec->names[i]);
        strs[n] = rec->names[i];
        lens[n++] = strlen(rec->names[i]);
        strs[n] = rec->values[i];
        lens[n++] = strlen(rec->values[i]);
    }
    if (sidecar_accepts(kind, tenant, strs, lens, n, reason, sizeof(reason)) != 0)
        return ctl_fail(err, CTL_EXIT_USAGE, "%s: %s", where, reason);
    return CTL_EXIT_OK;
}

/* ------------------------------------------------------------------ JSON */

static json_t *words_to_json(const char *value)
{
    char **words;
    size_t n;
    if (strcmp(value, "*") == 0)
        return json_string("*");
    json_t *arr = json_array();
    if (sc_words_split(value, strlen(value), &words, &n) != 0)
        return arr;
    for (size_t i = 0; i != n; ++i)
        json_array_append_new(arr, json_string(words[i]));
    sc_words_free(words, n);
    return arr;
}

static json_t *value_to_json(const sc_record_field_t *f, const char *value)
{
    uint64_t v;
    if (f == NULL || f->type == SC_RECORD_TEXT)
        return json_string(value);
    if (f->type == SC_RECORD_WORDS)
        return words_to_json(value);
    /* a malformed count is exported as it is, for import to reject with a clear message */
    return parse_stored_uint(value, &v) == 0 ? json_integer((json_int_t)v) : json_string(value);
}

void ctl_record_to_json(ctl_record_kind_t kind, const ctl_record_t *rec, json_t *obj)
{
    for (const sc_record_field_t *f = fields_of(kind); f->name != NULL; ++f) {
        const char *v = ctl_record_get(rec, f->name);
        if (v != NULL)
            json_object_set_new(obj, f->name, value_to_json(f, v));
    }
    for (size_t i = 0; i != rec->count; ++i) /* fields a newer writer added: kept visible */
        if (rec->values[i] != NULL && find_field(kind, rec->names[i]) == NULL)
            json_object_set_new(obj, rec->names[i], json_string(rec->values[i]));
}

/* An array of words (each valid, once), or "*", joined with single spaces. NULL when malformed. */
static char *words_from_json(const json_t *v)
{
    if (json_is_string(v) && strcmp(json_string_value(v), "*") == 0)
        return ctl_xstrdup("*");
    if (!json_is_array(v))
        return NULL;
    char *s = ctl_xstrdup("");
    size_t i;
    const json_t *item;
    json_array_foreach(v, i, item)
    {
        const char *w = json_string_value(item);
        if (w == NULL || !ctl_word_valid(w) || strcmp(w, "*") == 0) {
            free(s);
            return NULL;
        }
        char *next = ctl_xasprintf("%s%s%s", s, i != 0 ? " " : "", w);
        free(s);
        s = next;
    }
    return s;
}

static char *value_from_json(const sc_record_field_t *f, const json_t *v)
{
    switch (f->type) {
    case SC_RECORD_TEXT:
        return json_is_string(v) ? ctl_xstrdup(json_string_value(v)) : NULL;
    case SC_RECORD_WORDS:
        return words_from_json(v);
    default:
        return json_is_integer(v) && json_integer_value(v) >= 0 ? ctl_xasprintf("%lld", (long long)json_integer_value(v)) : NULL;
    }
}

static int skipped(const char *name, const char *const *skip)
{
    for (; skip != NULL && *skip != NULL; ++skip)
        if (strcmp(*skip, name) == 0)
            return 1;
    return 0;
}

static const char *type_name(sc_record_field_type_t t)
{
    return t == SC_RECORD_TEXT ? "a string" : t == SC_RECORD_WORDS ? "an array of words, or \"*\"" : "a whole number";
}

int ctl_record_from_json(ctl_record_kind_t kind, const json_t *obj, const char *const *skip, ctl_record_t *rec, const char *where,
                         ctl_err_t *err)
{
    const char *name;
    const json_t *v;
    if (!json_is_object(obj))
        return ctl_fail(err, CTL_EXIT_USAGE, "%s: must be an object", where);
    json_object_foreach((json_t *)obj, name, v)
    {
        if (skipped(name, skip))
            continue;
        const sc_record_field_t *f = find_field(kind, name);
        if (f == NULL)
            return ctl_fail(err, CTL_EXIT_USAGE, "%s: unknown field \"%s\"", where, name);
        char *value = value_from_json(f, v);
        if (value == NULL)
            return ctl_fail(err, CTL_EXIT_USAGE, "%s.%s: must be %s", where, name, type_name(f->type));
        set_owned(rec, name, value);
    }
    return CTL_EXIT_OK;
}
