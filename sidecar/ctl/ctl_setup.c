#include "ctl_setup.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "redis_config.h"
#include "text.h"

static const char *nonempty_env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

int ctl_setup_host(const ctl_args_t *args, sc_config_t **host, ctl_err_t *err)
{
    const char *path = args->config_file;
    *host = NULL;
    if (path == NULL && args->redis_url == NULL && nonempty_env(CTL_REDIS_URL_ENV) == NULL) {
        /* On a host, `sidecarctl tenant list` just works: it talks to the sidecar's Redis. */
        const char *fallback = nonempty_env(CTL_DEFAULT_CONFIG_ENV);
        fallback = fallback != NULL ? fallback : CTL_DEFAULT_CONFIG;
        if (access(fallback, F_OK) == 0)
            path = fallback;
    }
    if (path == NULL)
        return CTL_EXIT_OK;
    if ((*host = sc_config_load_file(path, err->msg, sizeof(err->msg))) == NULL)
        return CTL_EXIT_USAGE;
    return CTL_EXIT_OK;
}

/* --redis-user / $SIDECAR_REDIS_USER and --redis-password-file / $SIDECAR_REDIS_PASSWORD. */
static int apply_login_overrides(const ctl_args_t *args, sc_redis_config_t *c, ctl_err_t *err)
{
    const char *user = args->redis_user != NULL ? args->redis_user : nonempty_env(CTL_REDIS_USER_ENV);
    char reason[512];
    if (user != NULL) {
        if (!ctl_word_valid(user))
            return ctl_fail(err, CTL_EXIT_USAGE, "%s: not a valid user name", CTL_REDIS_USER_ENV);
        free(c->user);
        c->user = ctl_xstrdup(user);
        if (c->password != NULL) { /* the sidecar's user's password: not for this user */
            OPENSSL_cleanse(c->password, strlen(c->password));
            free(c->password);
            c->password = NULL;
        }
        /* the file if given, else $SIDECAR_REDIS_PASSWORD (if set) */
        if (sc_redis_config_load_password(c, args->redis_password_file, reason, sizeof(reason)) != 0)
            return ctl_fail(err, CTL_EXIT_USAGE, "--redis-password-file: %s", reason);
    } else if (args->redis_password_file != NULL &&
               sc_redis_config_load_password(c, args->redis_password_file, reason, sizeof(reason)) != 0) {
        return ctl_fail(err, CTL_EXIT_USAGE, "--redis-password-file: %s", reason);
    }
    return CTL_EXIT_OK;
}

/* The login half of the host file's section (user, password, prefix, timeouts) moves into `to`. */
static void take_login(sc_redis_config_t *to, sc_redis_config_t *from)
{
    char **moved[][2] = {{&to->user, &from->user}, {&to->password, &from->password}, {&to->prefix, &from->prefix}};
    for (size_t i = 0; i != sizeof(moved) / sizeof(moved[0]); ++i) {
        free(*moved[i][0]); /* to->password is still NULL: nothing secret is freed unwiped */
        *moved[i][0] = *moved[i][1];
        *moved[i][1] = NULL;
    }
    to->timeout_ms = from->timeout_ms;
    to->connect_timeout_ms = from->connect_timeout_ms;
    to->cluster = from->cluster;
}

int ctl_setup_redis(const ctl_args_t *args, sc_config_t *host, sc_redis_config_t **out, ctl_err_t *err)
{
    const char *env = getenv(CTL_REDIS_URL_ENV), *url = args->redis_url != NULL ? args->redis_url : env;
    const char *source = args->redis_url != NULL ? "--redis" : CTL_REDIS_URL_ENV;
    sc_redis_config_t *from_file = host != NULL ? host->redis : NULL;
    char reason[512];

    if (url != NULL && url[0] == '\0')
        url = NULL;
    if (url == NULL && from_file == NULL)
        return ctl_fail(err, CTL_EXIT_USAGE,
                        "no Redis to talk to: give --redis URL, set %s, or -c a host file with a redis section", CTL_REDIS_URL_ENV);
    sc_redis_config_t *c;
    if (url == NULL) {
        c = from_file;
        host->redis = NULL;
    } else {
        if ((c = sc_redis_config_from_url(url, reason, sizeof(reason))) == NULL)
            return ctl_fail(err, CTL_EXIT_USAGE, "%s: %s", source, reason);
        if (from_file != NULL) {
            take_login(c, from_file);
        } else if (sc_redis_config_load_password(c, NULL, reason, sizeof(reason)) != 0) {
            sc_redis_config_free(c);
            return ctl_fail(err, CTL_EXIT_USAGE, "%s", reason);
        }
    }
    if (args->redis_cluster)
        c->cluster = 1;
    if (c->cluster && c->db != 0) {
        sc_redis_config_free(c);
        return ctl_fail(err, CTL_EXIT_USAGE, "a Redis Cluster has database 0 only");
    }
    if (apply_login_overrides(args, c, err) != CTL_EXIT_OK) {
        sc_redis_config_free(c);
        return CTL_EXIT_USAGE;
    }
    *out = c;
    return CTL_EXIT_OK;
}

int ctl_setup_audit_max(const ctl_args_t *args, uint64_t *out, ctl_err_t *err)
{
    const char *env = nonempty_env(CTL_AUDIT_MAX_ENV);
    *out = CTL_AUDIT_DEFAULT_MAX_ENTRIES;
    if (args->audit_max_entries != 0)
        *out = args->audit_max_entries;
    else if (env != NULL && (ctl_parse_count(env, out) != 0 || *out == 0))
        return ctl_fail(err, CTL_EXIT_USAGE, "%s=%s: expected a count of at least 1", CTL_AUDIT_MAX_ENV, env);
    return CTL_EXIT_OK;
}

const char *ctl_setup_actor(const ctl_args_t *args, char *buf, size_t size)
{
    const char *login = getenv("LOGNAME");
    struct passwd *pw;
    if (args->actor != NULL)
        snprintf(buf, size, "%s", args->actor);
    else if (login != NULL && sc_text_line_valid(login, CTL_ACTOR_MAX))
        snprintf(buf, size, "%s", login);
    else if ((pw = getpwuid(getuid())) != NULL && sc_text_line_valid(pw->pw_name, CTL_ACTOR_MAX))
        snprintf(buf, size, "%s", pw->pw_name);
    else
        snprintf(buf, size, "uid:%u", (unsigned)getuid());
    return buf;
}
