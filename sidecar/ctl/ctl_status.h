/*
 * ctl_status: how sidecarctl reports an outcome. Every operation returns an exit status and,
 * unless it is CTL_EXIT_OK, leaves one line of explanation in a ctl_err_t; main prints it as
 * "sidecarctl: <message>" on stderr. Nothing below main writes errors itself.
 */
#ifndef SC_CTL_STATUS_H
#define SC_CTL_STATUS_H

#include <stdarg.h>
#include <stddef.h>

/* Exit statuses, stable for scripts (documented in --help). */
enum {
    CTL_EXIT_OK = 0,
    CTL_EXIT_REFUSED = 1, /* the operation does not apply to what Redis holds (unknown or duplicate tenant, unknown key...) */
    CTL_EXIT_USAGE = 2,   /* bad command line or input file: refused before Redis is contacted */
    CTL_EXIT_REDIS = 3,   /* Redis unreachable, refused the login, or failed a command */
};

typedef struct ctl_err {
    char msg[1024];
} ctl_err_t;

/**
 * Formats the message into err and returns `status`, so that callers can write
 * `return ctl_fail(err, CTL_EXIT_USAGE, "...")`. Control characters become '?': the message
 * stays one line whatever it quotes.
 */
int ctl_fail(ctl_err_t *err, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/**
 * Puts formatted context before the message already in err ("FILE: " + "tenants[2]: ...") and
 * returns `status`.
 */
int ctl_fail_prefix(ctl_err_t *err, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Allocation for a short-lived command-line tool: on failure they print
 * "sidecarctl: out of memory" and exit(CTL_EXIT_REFUSED). The process has nothing better to do,
 * and every caller is spared an error path that cannot be tested.
 */
void *ctl_xmalloc(size_t size);
void *ctl_xrealloc(void *p, size_t size);
char *ctl_xstrdup(const char *s);
char *ctl_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *ctl_xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

#endif
