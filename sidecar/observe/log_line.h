/*
 * log_line: one access-log line, as JSON, from the facts of one request. A pure function of its
 * input (no h2o request, no clock), so that unit tests and the fuzzer exercise exactly what runs.
 *
 * Every string goes through the JSON writer (json_out.h), whatever its origin: a value the
 * pipeline has not validated yet (X-Tenant-ID before the check) is as hostile as a path. Each
 * string is bounded, cut whole with SC_JSON_CUT_MARKER, so that a line always fits and is always
 * one valid JSON object.
 */
#ifndef SC_LOG_LINE_H
#define SC_LOG_LINE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

/* Large enough for every field at its bound: a formatted line never exceeds it. */
#define SC_LOG_LINE_MAX 8192

typedef struct sc_log_text {
    const char *base; /* NULL or empty: null */
    size_t len;
} sc_log_text_t;

typedef struct sc_log_line {
    struct timeval time;
    sc_log_text_t request_id, service, route, method, path, query, tenant, subject, auth_method, key_id, decision, reason,
        remote_addr;
    sc_log_text_t client_addr;        /* a trusted proxy's X-Forwarded-For client, else the peer */
    sc_log_text_t trace_id;           /* X-Amzn-Trace-Id, from a trusted proxy */
    sc_log_text_t gateway_request_id; /* request_id_header, from a trusted proxy */
    int status;
    int upstream_answered; /* upstream_status and upstream_ms are null otherwise */
    uint64_t duration_us, upstream_us;
    uint64_t bytes_in, bytes_out;
} sc_log_line_t;

/**
 * Writes the line, '\n' included, into out (at least SC_LOG_LINE_MAX bytes) and returns its
 * length.
 */
size_t sc_log_line_format(const sc_log_line_t *line, char *out);

/**
 * The text of a NUL-terminated string (NULL gives null).
 */
sc_log_text_t sc_log_line_cstr(const char *s);

#endif
