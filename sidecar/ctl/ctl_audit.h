/*
 * ctl_audit: `sidecarctl audit`, the audit stream (PREFIX"audit", written by every change in
 * the same transaction, capped with XADD MAXLEN ~) read back: oldest first, optionally only one
 * tenant's entries and only those since a time. Read-only: the sidecar's own user may run it.
 */
#ifndef SC_CTL_AUDIT_H
#define SC_CTL_AUDIT_H

#include "ctl_commands.h"

/* Entries fetched per XRANGE: bounded replies, however long the stream. */
#define CTL_AUDIT_PAGE 500

/**
 * Prints the entries: human, one line each ("TIME ACTOR ACTION TENANT [key KEY_ID] DETAIL");
 * --json, an array of {"id", "at", "actor", "action", "tenant", "key_id", "detail"}.
 * Returns an exit status.
 */
int ctl_audit_run(const ctl_env_t *env, ctl_err_t *err);

#endif
