/*
 * ctl_setup: what sidecarctl needs before it can talk to Redis: the host file (-c), where Redis
 * is and how to log in, and who the actor is. Reads files and the environment; no Redis.
 */
#ifndef SC_CTL_SETUP_H
#define SC_CTL_SETUP_H

#include <stddef.h>

#include "config.h"
#include "ctl_args.h"

#define CTL_REDIS_URL_ENV "SIDECAR_REDIS_URL"

/**
 * Loads the host file given with -c (its policies too: it is the sidecar's own loader), or sets
 * *host to NULL without -c. CTL_EXIT_OK, or CTL_EXIT_USAGE with "file:line: key: reason".
 */
int ctl_setup_host(const ctl_args_t *args, sc_config_t **host, ctl_err_t *err);

/**
 * The Redis settings: the address from --redis, else $SIDECAR_REDIS_URL, else the host file's
 * redis section. The host file, when given, also supplies user, password (its password_file or
 * $SIDECAR_REDIS_PASSWORD), prefix and timeouts, even when a URL overrides the address, so that
 * sidecarctl always writes where the sidecar reads. Without one: the default user, the password
 * from $SIDECAR_REDIS_PASSWORD, prefix "ps:". The host file's section is moved out of `host`.
 * CTL_EXIT_OK or CTL_EXIT_USAGE.
 */
int ctl_setup_redis(const ctl_args_t *args, sc_config_t *host, sc_redis_config_t **out, ctl_err_t *err);

/**
 * --actor, else $LOGNAME, else the name of the real user id, else "uid:N". Written into buf.
 */
const char *ctl_setup_actor(const ctl_args_t *args, char *buf, size_t size);

#endif
