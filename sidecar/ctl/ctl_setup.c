#include "ctl_setup.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "redis_config.h"

int ctl_setup_host(const ctl_args_t *args, sc_config_t **host, ctl_err_t *err)
{
    *host = NULL;
    if (args->config_file == NULL)
        return CTL_EXIT_OK;
    if ((*host = sc_config_load_file(args->config_file, err->msg, sizeof(err->msg))) == NULL)
        return CTL_EXIT_USAGE;
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
    if (url == NULL) {
        *out = from_file;
        host->redis = NULL;
        return CTL_EXIT_OK;
    }
    sc_redis_config_t *c = sc_redis_config_from_url(url, reason, sizeof(reason));
    if (c == NULL)
        return ctl_fail(err, CTL_EXIT_USAGE, "%s: %s", source, reason);
    if (from_file != NULL) {
        take_login(c, from_file);
    } else if (sc_redis_config_load_password(c, NULL, reason, sizeof(reason)) != 0) {
        sc_redis_config_free(c);
        return ctl_fail(err, CTL_EXIT_USAGE, "%s", reason);
    }
    *out = c;
    return CTL_EXIT_OK;
}

static int printable(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CTL_ACTOR_MAX)
        return 0;
    for (; *s != '\0'; ++s)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

const char *ctl_setup_actor(const ctl_args_t *args, char *buf, size_t size)
{
    const char *login = getenv("LOGNAME");
    struct passwd *pw;
    if (args->actor != NULL)
        snprintf(buf, size, "%s", args->actor);
    else if (login != NULL && printable(login))
        snprintf(buf, size, "%s", login);
    else if ((pw = getpwuid(getuid())) != NULL && printable(pw->pw_name))
        snprintf(buf, size, "%s", pw->pw_name);
    else
        snprintf(buf, size, "uid:%u", (unsigned)getuid());
    return buf;
}
