/*
 * ctl_transfer: export and import of every tenant and API-key record, as one JSON document:
 *
 *   {"format": "sidecarctl-export", "version": 1, "exported_at": UNIX,
 *    "tenants": [{"id": "acme", "status": "active", "services": "*", ...,
 *                 "keys": [{"key_id": "k_...", "sha256": "...", "tenant": "acme", ...}]}]}
 *
 * Records appear in their typed JSON form (ctl_record.h); keys by their SHA-256 only, since
 * keys are never stored. Import checks the whole file before touching Redis, then writes one
 * transaction per tenant that replaces the tenant's record and all its keys.
 */
#ifndef SC_CTL_TRANSFER_H
#define SC_CTL_TRANSFER_H

#include <stdint.h>

#include "config.h"
#include "ctl_redis.h"

/**
 * Writes the export document to stdout. Returns an exit status.
 */
int ctl_export(ctl_redis_t *r, int64_t now, ctl_err_t *err);

typedef struct ctl_import ctl_import_t;

/**
 * Reads and validates a whole export file ("-": stdin): structure, tenant ids, every record as
 * the sidecar would parse it, key ids and hashes unique, services known to `host` (when not
 * NULL). Returns CTL_EXIT_OK with *out set, or CTL_EXIT_USAGE with "FILE: where: reason".
 */
int ctl_import_load(const char *path, const sc_config_t *host, ctl_import_t **out, ctl_err_t *err);

/**
 * Refuses (CTL_EXIT_REFUSED) when a key id of the file belongs to another tenant in Redis;
 * otherwise writes the tenants one transaction each. On a failure, the message says how many
 * tenants were written before it.
 */
int ctl_import_write(ctl_redis_t *r, const ctl_import_t *im, int json, ctl_err_t *err);

/**
 * import --dry-run: makes the same key-owner check as ctl_import_write, then prints, tenant by
 * tenant, what the import would change (created / replaced with the fields and API keys that
 * differ / unchanged) and writes nothing. Returns an exit status.
 */
int ctl_import_plan(ctl_redis_t *r, const ctl_import_t *im, int json, ctl_err_t *err);

void ctl_import_free(ctl_import_t *im);

#endif
