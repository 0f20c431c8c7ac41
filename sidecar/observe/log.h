/*
 * log: the daemon's own diagnostics, one line each on stderr (journald adds its own metadata):
 *
 *     2026-11-28T08:00:00.123Z warn: service langchain: upstream ...: connection failure
 *
 * Never pass a token, key, password or Authorization value to these functions.
 */
#ifndef SC_LOG_H
#define SC_LOG_H

#include <time.h>

typedef enum { SC_LOG_DEBUG, SC_LOG_INFO, SC_LOG_WARN, SC_LOG_ERROR } sc_log_level_t;

void sc_log_set_level(sc_log_level_t level);

void sc_log(sc_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * For events that can happen on every request (a backend down, a report_only would-deny): at
 * most `per_second` lines per second (0 counts as 1) per caller-owned state; the next line
 * written says how many were held back before it. Not thread-safe: one state per worker thread.
 */
typedef struct sc_log_throttle {
    unsigned per_second;
    unsigned used; /* lines written in `second` */
    time_t second;
    unsigned long suppressed;
} sc_log_throttle_t;

void sc_log_throttled(sc_log_throttle_t *throttle, sc_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define sc_log_debug(...) sc_log(SC_LOG_DEBUG, __VA_ARGS__)
#define sc_log_info(...) sc_log(SC_LOG_INFO, __VA_ARGS__)
#define sc_log_warn(...) sc_log(SC_LOG_WARN, __VA_ARGS__)
#define sc_log_error(...) sc_log(SC_LOG_ERROR, __VA_ARGS__)

#endif
