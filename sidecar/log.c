#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

static sc_log_level_t min_level = SC_LOG_INFO;

void sc_log_set_level(sc_log_level_t level)
{
    min_level = level;
}

void sc_log(sc_log_level_t level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    char line[1024], stamp[32];
    struct timeval tv;
    struct tm tm;
    va_list ap;

    if (level < min_level)
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* one fprintf per line: stdio locks the stream, so lines from threads do not interleave */
    fprintf(stderr, "%s.%03dZ %s: %s\n", stamp, (int)(tv.tv_usec / 1000), names[level], line);
}
