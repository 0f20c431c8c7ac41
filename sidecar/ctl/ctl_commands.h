/*
 * ctl_commands: the tenant and key commands. Reads go through ctl_store, every change through
 * one ctl_redis_transact, output through ctl_output.
 */
#ifndef SC_CTL_COMMANDS_H
#define SC_CTL_COMMANDS_H

#include <stdint.h>

#include "config.h"
#include "ctl_args.h"
#include "ctl_redis.h"

typedef struct ctl_env {
    const ctl_args_t *args;
    const sc_config_t *host; /* the host file given with -c; NULL without */
    ctl_redis_t *redis;      /* connected: set for ctl_commands_run only */
    int64_t now;             /* Unix seconds, one instant for the whole command */
} ctl_env_t;

/**
 * What can be refused before Redis is contacted: service names unknown to the host file, and
 * `tenant delete` without --yes when stdin is not a terminal (nobody to ask). CTL_EXIT_OK or
 * CTL_EXIT_USAGE.
 */
int ctl_commands_precheck(const ctl_env_t *env, int stdin_is_tty, ctl_err_t *err);

/**
 * Runs a tenant or key command (not export/import). Returns an exit status.
 */
int ctl_commands_run(const ctl_env_t *env, ctl_err_t *err);

/**
 * CTL_EXIT_OK when `services` ("*" or space-separated) names only services of the host file
 * (or there is no host file); CTL_EXIT_USAGE with "WHERE: unknown service ..." otherwise.
 */
int ctl_check_services(const sc_config_t *host, const char *services, const char *where, ctl_err_t *err);

#endif
