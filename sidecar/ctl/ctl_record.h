/*
 * ctl_record: a tenant or API-key record as the fields of its Redis hash (schema.h), in the
 * order they were set. A field whose value is NULL is one to remove (HDEL) when the record is
 * written as a change.
 *
 * The JSON form, shared by `get --json`, `list --json`, export and import, maps the fields one
 * to one and types them: word lists are arrays (or "*"), counts and times are integers, the rest
 * strings. Converting a hash to JSON and back gives the same hash for every record sidecarctl
 * writes (lists are stored space-separated, each word once).
 *
 * Validity is judged by the sidecar's own parsers (sc_schema_tenant_parse,
 * sc_schema_apikey_parse): a record that passes is one the sidecar will accept.
 */
#ifndef SC_CTL_RECORD_H
#define SC_CTL_RECORD_H

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stddef.h>

#include "ctl_status.h"

typedef enum ctl_record_kind { CTL_RECORD_TENANT, CTL_RECORD_KEY } ctl_record_kind_t;

typedef struct ctl_record {
    char **names;
    char **values; /* NULL: remove the field */
    size_t count;
} ctl_record_t;

void ctl_record_free(ctl_record_t *rec);

/**
 * Sets (or, with value NULL, marks for removal) a field, replacing an earlier value.
 */
void ctl_record_set(ctl_record_t *rec, const char *name, const char *value);
void ctl_record_setf(ctl_record_t *rec, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/**
 * The value of a field, or NULL when absent or marked for removal.
 */
const char *ctl_record_get(const ctl_record_t *rec, const char *name);

/**
 * Fills an empty record from an HGETALL reply. Returns 0, or -1 when the reply is not an array
 * of strings.
 */
int ctl_record_from_reply(ctl_record_t *rec, const redisReply *reply);

/**
 * "name=value ..." for the audit stream; removed fields read "name=(removed)".
 */
char *ctl_record_describe(const ctl_record_t *rec);

/**
 * Checks the record the way the sidecar will read it, and that times and counts are numbers.
 * `tenant` is the tenant's id (for a key: the tenant it is filed under). Returns CTL_EXIT_OK
 * or CTL_EXIT_USAGE with "WHERE: reason" in err.
 */
int ctl_record_validate(ctl_record_kind_t kind, const char *tenant, const ctl_record_t *rec, const char *where, ctl_err_t *err);

/**
 * The i-th field schema.h defines for this kind of record, in display order; NULL past the end.
 */
const char *ctl_record_field_name(ctl_record_kind_t kind, size_t i);

/**
 * Adds the record's fields to a JSON object, typed (see above).
 */
void ctl_record_to_json(ctl_record_kind_t kind, const ctl_record_t *rec, json_t *obj);

/**
 * Reads the record's fields from a JSON object, ignoring the members listed in `skip`
 * (NULL-terminated: "id", "keys", "sha256"...). Unknown members and values of the wrong type
 * are errors. Returns CTL_EXIT_OK or CTL_EXIT_USAGE with "WHERE: reason" in err.
 */
int ctl_record_from_json(ctl_record_kind_t kind, const json_t *obj, const char *const *skip, ctl_record_t *rec, const char *where,
                         ctl_err_t *err);

#endif
