/* libFuzzer target: the access-log writer (sc_log_line_format). The input is split at 0x00 bytes
 * into the line's string fields, the last eight bytes feed the numbers; every line must be one
 * valid JSON object (checked with jansson) on one line, within SC_LOG_LINE_MAX. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log_line.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char out[SC_LOG_LINE_MAX];
    sc_log_line_t f;
    memset(&f, 0, sizeof(f));
    sc_log_text_t *fields[] = {
        &f.request_id,  &f.service, &f.route,    &f.method, &f.path,        &f.query,       &f.tenant,   &f.subject,
        &f.auth_method, &f.key_id,  &f.decision, &f.reason, &f.remote_addr, &f.client_addr, &f.trace_id, &f.gateway_request_id};
    size_t nfields = sizeof(fields) / sizeof(fields[0]);
    uint64_t n = 0;
    if (size >= 8) {
        memcpy(&n, data + size - 8, 8);
        size -= 8;
    }
    const char *p = (const char *)data, *end = p + size;
    for (size_t i = 0; i != nfields && p < end; ++i) {
        const char *z = memchr(p, 0, (size_t)(end - p));
        const char *stop = z != NULL ? z : end;
        *fields[i] = (sc_log_text_t){p, (size_t)(stop - p)};
        p = stop + 1;
    }
    f.time.tv_sec = (time_t)(n & 0xffffffffffLL);
    f.time.tv_usec = (suseconds_t)(n % 1000000);
    f.status = (int)(n % 1000);
    f.upstream_answered = (int)(n & 1);
    f.duration_us = n;
    f.upstream_us = n >> 3;
    f.bytes_in = n >> 7;
    f.bytes_out = ~n;

    size_t len = sc_log_line_format(&f, out);
    if (len == 0 || len > SC_LOG_LINE_MAX || out[len - 1] != '\n' || memchr(out, '\n', len - 1) != NULL)
        abort();
    json_error_t err;
    json_t *doc = json_loadb(out, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &err);
    if (doc == NULL || !json_is_object(doc)) {
        fprintf(stderr, "not a JSON object (%s): %.*s\n", err.text, (int)len, out);
        abort();
    }
    json_decref(doc);
    return 0;
}
