#include "fd_budget.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "log.h"

/* stdin, stdout, stderr, the access log, the JWKS fetcher's and the process's own odds and ends */
#define PROCESS_DESCRIPTORS 8
/* per worker: its Redis command and subscription connections */
#define REDIS_DESCRIPTORS 2

uint64_t sc_fd_budget_fixed(const sc_config_t *config)
{
    uint64_t listeners = config->num_services + 1; /* the services' and the admin port */
    uint64_t per_worker = 1 /* epoll */ + listeners * 3 /* queue pipe, listener copy */ + REDIS_DESCRIPTORS;
    return PROCESS_DESCRIPTORS + listeners + config->threads * per_worker;
}

int sc_fd_budget_check(const sc_config_t *config)
{
    struct rlimit rl;
    uint64_t fixed = sc_fd_budget_fixed(config), needed = fixed + SC_FD_BUDGET_MIN_CONNECTIONS;
    uint64_t usable = fixed + 2 * config->max_connections;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0; /* nothing known: the start goes on as before */
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < usable && rl.rlim_cur < rl.rlim_max) {
        rlim_t before = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > usable ? (rlim_t)usable : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            sc_log_warn("cannot raise RLIMIT_NOFILE from %llu: %s", (unsigned long long)before, strerror(errno));
            rl.rlim_cur = before;
        }
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < needed) {
        sc_log_error("RLIMIT_NOFILE is %llu (hard limit %llu): %u thread(s) and %zu service(s) hold %llu descriptors before any "
                     "connection, and at least %d more are needed for connections; raise the limit (systemd: LimitNOFILE=)",
                     (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max, config->threads, config->num_services,
                     (unsigned long long)fixed, SC_FD_BUDGET_MIN_CONNECTIONS);
        return -1;
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < usable)
        sc_log_warn("RLIMIT_NOFILE is %llu: fewer than max_connections (%llu) client connections with their backend "
                    "connections fit; accepting pauses when descriptors run out",
                    (unsigned long long)rl.rlim_cur, (unsigned long long)config->max_connections);
    return 0;
}
