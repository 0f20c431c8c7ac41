/*
 * ctl_output: everything sidecarctl writes to stdout, and the one question it asks on a
 * terminal. Human-readable by default; with --json, one JSON document per command (jansson).
 * Errors are not printed here but by main, from the ctl_err_t every operation returns.
 *
 * A new API key is printed by ctl_output_new_key only, once, and never through stdio or
 * jansson buffers that would outlive the call: the line is built in a local buffer, written with
 * write(2) and wiped.
 */
#ifndef SC_CTL_OUTPUT_H
#define SC_CTL_OUTPUT_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "ctl_keygen.h"
#include "ctl_record.h"
#include "ctl_status.h"
#include "ctl_store.h"

void ctl_output_help(FILE *out);
void ctl_output_version(void);

/**
 * "sidecarctl: <message>" on stderr.
 */
void ctl_output_error(const ctl_err_t *err);

/**
 * "sidecarctl: warning: <message>" on stderr: something the user should know about a command
 * that still succeeds.
 */
void ctl_output_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/**
 * The JSON form of a tenant ({"id": ..., fields...}) and of a key ({"sha256": ..., fields...}),
 * shared by get, list and export. New references.
 */
json_t *ctl_output_tenant_json(const char *id, const ctl_record_t *rec);
json_t *ctl_output_key_json(const ctl_key_entry_t *key);

/**
 * Writes a JSON document to stdout (indented, newline-terminated) and releases it. Returns
 * CTL_EXIT_OK, or CTL_EXIT_REFUSED when stdout cannot be written.
 */
int ctl_output_json(json_t *doc, ctl_err_t *err);

int ctl_output_tenant(int json, const char *id, const ctl_record_t *rec, ctl_err_t *err);
int ctl_output_tenant_list(int json, char **ids, const ctl_record_t *recs, size_t count, ctl_err_t *err);
int ctl_output_key_list(int json, const ctl_key_list_t *keys, int64_t now, ctl_err_t *err);

/**
 * The outcome of a change: `human` (a sentence) or {"action", "tenant", "key_id"}.
 */
int ctl_output_done(int json, const char *action, const char *tenant, const char *key_id, const char *human, ctl_err_t *err);

/* What a rotation did to the old key. */
typedef struct ctl_rotation {
    const char *old_key_id;
    const char *tenant;
    int64_t old_expires_at; /* 0: revoked now */
} ctl_rotation_t;

/**
 * Prints a new key, once: human, the key on its own line then "key_id ID"; JSON,
 * {"key": ..., "key_id": ...}. After a rotation (`rotation` not NULL) JSON adds "replaces" and
 * "replaced_expires_at"; human output a line about the old key. Returns CTL_EXIT_OK, or
 * CTL_EXIT_REFUSED when stdout failed (the key is then lost: the message says to revoke it).
 */
int ctl_output_new_key(int json, const ctl_new_key_t *key, const ctl_rotation_t *rotation, ctl_err_t *err);

/**
 * Asks a yes/no question on stderr and reads the answer from stdin. 1 for "y" or "yes".
 */
int ctl_output_confirm(const char *question);

#endif
