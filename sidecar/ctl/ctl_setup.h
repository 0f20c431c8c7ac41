/*
 * ctl_setup: what sidecarctl needs before it can talk to Redis: the host file (-c), where Redis
 * is and how to log in, and who the actor is. Reads files and the environment; no Redis.
 */
#ifndef SC_CTL_SETUP_H
#define SC_CTL_SETUP_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "ctl_args.h"

#define CTL_REDIS_URL_ENV "SIDECAR_REDIS_URL"
#define CTL_REDIS_USER_ENV "SIDECAR_REDIS_USER"
/* The host file read when neither -c nor a Redis address is given, if it exists; the variable
 * names another one (tests, hosts with another layout). */
#define CTL_DEFAULT_CONFIG "/etc/policy-sidecar/policy-sidecar.yaml"
#define CTL_DEFAULT_CONFIG_ENV "SIDECARCTL_DEFAULT_CONFIG"
#define CTL_AUDIT_MAX_ENV "SIDECAR_AUDIT_MAX_ENTRIES"

/**
 * Loads the host file given with -c (its policies too: it is the sidecar's own loader). Without
 * -c, --redis or $SIDECAR_REDIS_URL, loads the default host file (CTL_DEFAULT_CONFIG, or
 * $SIDECARCTL_DEFAULT_CONFIG) when it exists; otherwise sets *host to NULL.
 * CTL_EXIT_OK, or CTL_EXIT_USAGE with "file:line: key: reason".
 */
int ctl_setup_host(const ctl_args_t *args, sc_config_t **host, ctl_err_t *err);

/**
 * The Redis settings: the address from --redis, else $SIDECAR_REDIS_URL, else the host file's
 * redis section. The host file, when given, also supplies user, password (its password_file or
 * $SIDECAR_REDIS_PASSWORD), prefix and timeouts, even when a URL overrides the address, so that
 * sidecarctl always writes where the sidecar reads. Without one: the default user, the password
 * from $SIDECAR_REDIS_PASSWORD, prefix "ps:". The host file's section is moved out of `host`.
 *
 * Another Redis user (--redis-user, else $SIDECAR_REDIS_USER) replaces the host file's, and
 * brings its own password: --redis-password-file, else $SIDECAR_REDIS_PASSWORD, else none (the
 * host file's password is the sidecar's user's, never sent for another user).
 * --redis-password-file alone replaces the password only. CTL_EXIT_OK or CTL_EXIT_USAGE.
 */
int ctl_setup_redis(const ctl_args_t *args, sc_config_t *host, sc_redis_config_t **out, ctl_err_t *err);

/**
 * The audit stream's cap: --audit-max-entries, else $SIDECAR_AUDIT_MAX_ENTRIES, else
 * CTL_AUDIT_DEFAULT_MAX_ENTRIES. CTL_EXIT_OK or CTL_EXIT_USAGE (a malformed variable).
 */
int ctl_setup_audit_max(const ctl_args_t *args, uint64_t *out, ctl_err_t *err);

/**
 * --actor, else $LOGNAME, else the name of the real user id, else "uid:N". Written into buf.
 */
const char *ctl_setup_actor(const ctl_args_t *args, char *buf, size_t size);

#endif
