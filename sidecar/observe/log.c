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

static void vlog(sc_log_level_t level, const char *fmt, va_list ap, unsigned long suppressed);

void sc_log(sc_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap, 0);
    va_end(ap);
}

void sc_log_throttled(sc_log_throttle_t *throttle, sc_log_level_t level, const char *fmt, ...)
{
    time_t now = time(NULL);
    unsigned budget = throttle->per_second != 0 ? throttle->per_second : 1;
    if (level < min_level)
        return;
    if (now != throttle->second) {
        throttle->second = now;
        throttle->used = 0;
    }
    if (throttle->used == budget) {
        ++throttle->suppressed;
        return;
    }
    ++throttle->used;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap, throttle->suppressed);
    va_end(ap);
    throttle->suppressed = 0;
}

static void vlog(sc_log_level_t level, const char *fmt, va_list ap, unsigned long suppressed)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    char line[1024], stamp[32];
    struct timeval tv;
    struct tm tm;

    if (level < min_level)
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    vsnprintf(line, sizeof(line), fmt, ap);
    /* one fprintf per line: stdio locks the stream, so lines from threads do not interleave */
    if (suppressed != 0)
        fprintf(stderr, "%s.%03dZ %s: %s (%lu more like it suppressed before this one)\n", stamp, (int)(tv.tv_usec / 1000),
                names[level], line, suppressed);
    else
        fprintf(stderr, "%s.%03dZ %s: %s\n", stamp, (int)(tv.tv_usec / 1000), names[level], line);
}
