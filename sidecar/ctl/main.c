/*
 * sidecarctl: manages the tenants and API keys that policy-sidecar reads from Redis.
 *
 * Order of work: parse and validate the command line; load the host file (-c) and, for import,
 * the whole input file; make the checks that need no Redis; only then connect, and run the
 * command. Invalid input is thus refused (exit 2) before anything is contacted, and a Redis that
 * cannot be reached or refuses the login (exit 3) has had nothing written to it. `token sign`
 * stops after the host file: it needs no Redis.
 */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "ctl_args.h"
#include "ctl_audit.h"
#include "ctl_commands.h"
#include "ctl_output.h"
#include "ctl_redis.h"
#include "ctl_setup.h"
#include "ctl_token.h"
#include "ctl_transfer.h"

static int dispatch(const ctl_env_t *env, const ctl_import_t *import, ctl_err_t *err)
{
    switch (env->args->command) {
    case CTL_CMD_EXPORT:
        return ctl_export(env->redis, env->now, err);
    case CTL_CMD_IMPORT:
        if ((env->args->given & CTL_OPT_DRY_RUN) != 0)
            return ctl_import_plan(env->redis, import, env->args->json, err);
        return ctl_import_write(env->redis, import, env->args->json, err);
    case CTL_CMD_AUDIT:
        return ctl_audit_run(env, err);
    default:
        return ctl_commands_run(env, err);
    }
}

static int run(const ctl_args_t *args, ctl_err_t *err)
{
    sc_config_t *host = NULL;
    sc_redis_config_t *redis_config = NULL;
    ctl_import_t *import = NULL;
    ctl_env_t env = {args, NULL, NULL, (int64_t)time(NULL)};
    char actor[CTL_ACTOR_MAX + 1];
    uint64_t audit_max = 0;

    int rc = ctl_setup_host(args, &host, err);
    env.host = host;
    if (rc == CTL_EXIT_OK && args->command == CTL_CMD_TOKEN_SIGN) {
        /* signs offline: the host file says how the issuer is configured; Redis has no part */
        rc = ctl_token_run(args, host != NULL ? &host->jwt_issuers : NULL, env.now, err);
        sc_config_free(host);
        return rc;
    }
    if (rc == CTL_EXIT_OK && args->command == CTL_CMD_IMPORT)
        rc = ctl_import_load(args->target, host, &import, err);
    if (rc == CTL_EXIT_OK)
        rc = ctl_commands_precheck(&env, isatty(STDIN_FILENO), err);
    if (rc == CTL_EXIT_OK)
        rc = ctl_setup_audit_max(args, &audit_max, err);
    if (rc == CTL_EXIT_OK)
        rc = ctl_setup_redis(args, host, &redis_config, err);
    if (rc == CTL_EXIT_OK)
        rc = ctl_redis_connect(redis_config, ctl_setup_actor(args, actor, sizeof(actor)), &env.redis, err);
    if (rc == CTL_EXIT_OK)
        env.redis->audit_max_entries = audit_max;
    if (rc == CTL_EXIT_OK)
        rc = dispatch(&env, import, err);
    ctl_redis_close(env.redis);
    ctl_import_free(import);
    sc_redis_config_free(redis_config);
    sc_config_free(host);
    return rc;
}

int main(int argc, char **argv)
{
    ctl_args_t args;
    ctl_err_t err = {{0}};
    int rc = ctl_args_parse(argc, argv, &args, &err);
    if (rc == CTL_EXIT_OK && args.command == CTL_CMD_HELP)
        ctl_output_help(stdout);
    else if (rc == CTL_EXIT_OK && args.command == CTL_CMD_VERSION)
        ctl_output_version();
    else if (rc == CTL_EXIT_OK)
        rc = run(&args, &err);
    if (rc != CTL_EXIT_OK)
        ctl_output_error(&err);
    ctl_args_free(&args);
    return rc;
}
