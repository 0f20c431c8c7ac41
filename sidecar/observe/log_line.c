#include "log_line.h"

#include <string.h>
#include <time.h>

#include "json_out.h"

/* Bounds of the escaped text of each string (their sum, with the keys and numbers, stays well
 * under SC_LOG_LINE_MAX). */
#define SHORT_MAX 128 /* ids, names, methods, addresses, reasons */
#define TEXT_MAX 512  /* route patterns, subjects */
#define URL_MAX 2048  /* path, query */
#define TRACE_MAX 256 /* X-Amzn-Trace-Id: Root, Parent, Sampled, and room for what X-Ray adds (Self, Lineage) */

/* ,"name": — every field after the first */
static void json_key(sc_json_buf_t *b, const char *name, size_t len)
{
    sc_json_out_raw(b, ",\"", 2);
    sc_json_out_raw(b, name, len);
    sc_json_out_raw(b, "\":", 2);
}
#define KEY(b, lit) json_key((b), (lit), sizeof(lit) - 1)

static void field_text(sc_json_buf_t *b, const char *name, size_t name_len, sc_log_text_t v, size_t max)
{
    json_key(b, name, name_len);
    if (v.base == NULL || v.len == 0)
        sc_json_out_lit(b, "null");
    else
        sc_json_out_string_max(b, v.base, v.len, max);
}
#define TEXT(b, lit, v, max) field_text((b), (lit), sizeof(lit) - 1, (v), (max))

/* Microseconds as milliseconds with three decimals, without printf. */
static void json_ms(sc_json_buf_t *b, uint64_t us)
{
    char frac[3] = {(char)('0' + us % 1000 / 100), (char)('0' + us % 100 / 10), (char)('0' + us % 10)};
    sc_json_out_uint(b, us / 1000);
    sc_json_out_raw(b, ".", 1);
    sc_json_out_raw(b, frac, 3);
}

/* {"time":"2026-11-28T08:00:00.123Z" — the part before the milliseconds changes once a second. */
static void json_time(sc_json_buf_t *b, const struct timeval *now)
{
    static __thread time_t cached_second = -1;
    static __thread char cached[40];
    static __thread size_t cached_len;
    if (now->tv_sec != cached_second) {
        struct tm tm;
        if (gmtime_r(&now->tv_sec, &tm) == NULL ||
            (cached_len = strftime(cached, sizeof(cached), "{\"time\":\"%Y-%m-%dT%H:%M:%S.", &tm)) == 0)
            cached_len = (size_t)(stpcpy(cached, "{\"time\":\"1970-01-01T00:00:00.") - cached); /* a clock out of range */
        cached_second = now->tv_sec;
    }
    unsigned ms = (unsigned)(now->tv_usec / 1000) % 1000;
    char tail[5] = {(char)('0' + ms / 100), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10), 'Z', '"'};
    sc_json_out_raw(b, cached, cached_len);
    sc_json_out_raw(b, tail, 5);
}

sc_log_text_t sc_log_line_cstr(const char *s)
{
    return (sc_log_text_t){s, s != NULL ? strlen(s) : 0};
}

size_t sc_log_line_format(const sc_log_line_t *f, char *out)
{
    sc_json_buf_t b;
    sc_json_out_init(&b, out, SC_LOG_LINE_MAX - 1);
    json_time(&b, &f->time);
    TEXT(&b, "request_id", f->request_id, SHORT_MAX);
    TEXT(&b, "service", f->service, SHORT_MAX);
    TEXT(&b, "route", f->route, TEXT_MAX);
    TEXT(&b, "method", f->method, SHORT_MAX);
    TEXT(&b, "path", f->path, URL_MAX);
    TEXT(&b, "query", f->query, URL_MAX);
    KEY(&b, "status");
    sc_json_out_uint(&b, (unsigned long long)(f->status > 0 ? f->status : 0));
    KEY(&b, "upstream_status");
    if (f->upstream_answered)
        sc_json_out_uint(&b, (unsigned long long)(f->status > 0 ? f->status : 0));
    else
        sc_json_out_lit(&b, "null");
    KEY(&b, "duration_ms");
    json_ms(&b, f->duration_us);
    KEY(&b, "upstream_ms");
    if (f->upstream_answered)
        json_ms(&b, f->upstream_us);
    else
        sc_json_out_lit(&b, "null");
    TEXT(&b, "tenant", f->tenant, SHORT_MAX);
    TEXT(&b, "subject", f->subject, TEXT_MAX);
    TEXT(&b, "auth_method", f->auth_method, SHORT_MAX);
    TEXT(&b, "key_id", f->key_id, SHORT_MAX);
    TEXT(&b, "decision", f->decision, SHORT_MAX);
    TEXT(&b, "reason", f->reason, SHORT_MAX);
    KEY(&b, "bytes_in");
    sc_json_out_uint(&b, (unsigned long long)f->bytes_in);
    KEY(&b, "bytes_out");
    sc_json_out_uint(&b, (unsigned long long)f->bytes_out);
    TEXT(&b, "remote_addr", f->remote_addr, SHORT_MAX);
    TEXT(&b, "client_addr", f->client_addr, SHORT_MAX);
    TEXT(&b, "trace_id", f->trace_id, TRACE_MAX);
    TEXT(&b, "gateway_request_id", f->gateway_request_id, SHORT_MAX);
    sc_json_out_lit(&b, "}");
    /* cannot happen with the bounds above; should it, a short valid line beats a broken one */
    if (b.truncated) {
        sc_json_out_init(&b, out, SC_LOG_LINE_MAX - 1);
        json_time(&b, &f->time);
        sc_json_out_lit(&b, ",\"error\":\"log_line_too_long\"}");
    }
    out[b.len++] = '\n';
    return b.len;
}
