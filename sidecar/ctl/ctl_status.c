#include "ctl_status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

int ctl_fail(ctl_err_t *err, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    /* messages echo what the user typed: control characters would break the one-line rule */
    for (char *p = err->msg; *p != '\0'; ++p)
        if (sc_text_is_control((unsigned char)*p))
            *p = '?';
    return status;
}

int ctl_fail_prefix(ctl_err_t *err, int status, const char *fmt, ...)
{
    char prefix[sizeof(err->msg)], rest[sizeof(err->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(rest, err->msg, sizeof(rest));
    return ctl_fail(err, status, "%s%s", prefix, rest);
}

static void *checked(void *p)
{
    if (p == NULL) {
        fputs("sidecarctl: out of memory\n", stderr);
        exit(CTL_EXIT_REFUSED);
    }
    return p;
}

void *ctl_xmalloc(size_t size)
{
    return checked(malloc(size == 0 ? 1 : size));
}

void *ctl_xrealloc(void *p, size_t size)
{
    return checked(realloc(p, size == 0 ? 1 : size));
}

char *ctl_xstrdup(const char *s)
{
    return checked(strdup(s));
}

char *ctl_xvasprintf(const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    char *s = n < 0 ? NULL : ctl_xmalloc((size_t)n + 1);
    if (s != NULL)
        vsnprintf(s, (size_t)n + 1, fmt, again);
    va_end(again);
    return checked(s);
}

char *ctl_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = ctl_xvasprintf(fmt, ap);
    va_end(ap);
    return s;
}
