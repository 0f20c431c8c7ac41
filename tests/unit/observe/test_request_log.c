/* The access-log line request_log.h documents, field by field: every key present once with its
 * JSON type (and nothing else), each text field escaped whatever it holds (quotes, backslashes,
 * control bytes, invalid UTF-8) and cut whole with the marker past its bound, the time and
 * durations as written, and the query's secret-looking values redacted. Each line is parsed
 * with jansson. The line itself is built by log_line.c (a pure function): the part of
 * request_log.c that fills it from an h2o request is covered by the integration tests
 * (test_observability.py). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <string.h>

#include "json_out.h"
#include "log_line.h"
#include "request_log.h"

/* The text fields, their keys and the bound of their escaped text (log_line.c). */
static const struct text_field {
    const char *key;
    size_t offset;
    size_t max;
} text_fields[] = {
    {"request_id", offsetof(sc_log_line_t, request_id), 128},
    {"service", offsetof(sc_log_line_t, service), 128},
    {"route", offsetof(sc_log_line_t, route), 512},
    {"method", offsetof(sc_log_line_t, method), 128},
    {"path", offsetof(sc_log_line_t, path), 2048},
    {"query", offsetof(sc_log_line_t, query), 2048},
    {"tenant", offsetof(sc_log_line_t, tenant), 128},
    {"subject", offsetof(sc_log_line_t, subject), 512},
    {"auth_method", offsetof(sc_log_line_t, auth_method), 128},
    {"key_id", offsetof(sc_log_line_t, key_id), 128},
    {"decision", offsetof(sc_log_line_t, decision), 128},
    {"reason", offsetof(sc_log_line_t, reason), 128},
    {"remote_addr", offsetof(sc_log_line_t, remote_addr), 128},
    {"client_addr", offsetof(sc_log_line_t, client_addr), 128},
    {"trace_id", offsetof(sc_log_line_t, trace_id), 256},
    {"gateway_request_id", offsetof(sc_log_line_t, gateway_request_id), 128},
};
#define NUM_TEXT_FIELDS (sizeof(text_fields) / sizeof(text_fields[0]))

/* The other fields, and the JSON types they may take. */
static const struct {
    const char *key;
    json_type type, or_type; /* or_type: when not known (null) */
} other_fields[] = {
    {"time", JSON_STRING, JSON_STRING},        {"status", JSON_INTEGER, JSON_INTEGER}, {"upstream_status", JSON_INTEGER, JSON_NULL},
    {"duration_ms", JSON_REAL, JSON_REAL},     {"upstream_ms", JSON_REAL, JSON_NULL},  {"bytes_in", JSON_INTEGER, JSON_INTEGER},
    {"bytes_out", JSON_INTEGER, JSON_INTEGER},
};
#define NUM_OTHER_FIELDS (sizeof(other_fields) / sizeof(other_fields[0]))

static char raw[SC_LOG_LINE_MAX];
static size_t raw_len;

static sc_log_text_t *text_at(sc_log_line_t *f, const struct text_field *t)
{
    return (sc_log_text_t *)((char *)f + t->offset);
}

/* Formats the line into `raw` and parses it: one line, one JSON object, no raw control byte. */
static json_t *format_and_parse(const sc_log_line_t *f)
{
    raw_len = sc_log_line_format(f, raw);
    assert_true(raw_len > 1 && raw_len <= SC_LOG_LINE_MAX);
    assert_int_equal(raw[raw_len - 1], '\n');
    for (size_t i = 0; i != raw_len - 1; ++i)
        if ((unsigned char)raw[i] < 0x20 || raw[i] == 0x7f)
            fail_msg("raw byte 0x%02x at %zu: %.*s", (unsigned char)raw[i], i, (int)raw_len, raw);
    json_error_t err;
    json_t *doc = json_loadb(raw, raw_len, JSON_REJECT_DUPLICATES, &err); /* also rejects invalid UTF-8 */
    if (doc == NULL)
        fail_msg("not JSON (%s): %.*s", err.text, (int)raw_len, raw);
    assert_true(json_is_object(doc));
    return doc;
}

/* Exactly the documented keys, each with one of its types. */
static void check_shape(const json_t *doc)
{
    assert_int_equal(json_object_size(doc), NUM_TEXT_FIELDS + NUM_OTHER_FIELDS);
    for (size_t i = 0; i != NUM_TEXT_FIELDS; ++i) {
        const json_t *v = json_object_get(doc, text_fields[i].key);
        if (v == NULL || !(json_is_string(v) || json_is_null(v)))
            fail_msg("%s: missing, or neither a string nor null", text_fields[i].key);
    }
    for (size_t i = 0; i != NUM_OTHER_FIELDS; ++i) {
        const json_t *v = json_object_get(doc, other_fields[i].key);
        if (v == NULL || (json_typeof(v) != other_fields[i].type && json_typeof(v) != other_fields[i].or_type))
            fail_msg("%s: missing or of the wrong type", other_fields[i].key);
    }
}

static const char *string_of(const json_t *doc, const char *key)
{
    const char *s = json_string_value(json_object_get(doc, key));
    if (s == NULL)
        fail_msg("%s: not a string", key);
    return s;
}

/* A forwarded request with every field set: the example of request_log.h. */
static sc_log_line_t example(void)
{
    return (sc_log_line_t){
        .time = {1795852800, 123456}, /* 2026-11-28T08:00:00.123456Z */
        .request_id = sc_log_line_cstr("01JDXR5V3Q8M6ZK2N4T7W9YB1C"),
        .service = sc_log_line_cstr("langchain"),
        .route = sc_log_line_cstr("/langchain/**"),
        .method = sc_log_line_cstr("POST"),
        .path = sc_log_line_cstr("/langchain/v1/invoke"),
        .query = sc_log_line_cstr("stream=true&api_key=REDACTED"),
        .status = 200,
        .upstream_answered = 1,
        .duration_us = 12345,
        .upstream_us = 11900,
        .tenant = sc_log_line_cstr("acme"),
        .subject = sc_log_line_cstr("user-1"),
        .auth_method = sc_log_line_cstr("jwt"),
        .decision = sc_log_line_cstr("allow"),
        .bytes_in = 512,
        .bytes_out = (uint64_t)1 << 40,
        .remote_addr = sc_log_line_cstr("10.0.0.7"),
        .client_addr = sc_log_line_cstr("203.0.113.9"),
        .trace_id = sc_log_line_cstr("Root=1-67891233-abcdef012345678912345678"),
        .gateway_request_id = sc_log_line_cstr("c6af9ac6-7b61-11e6-9a41-93e8deadbeef"),
    };
}

static void test_every_field_with_its_type(void **state)
{
    (void)state;
    sc_log_line_t f = example();
    json_t *doc = format_and_parse(&f);
    check_shape(doc);
    assert_string_equal(string_of(doc, "time"), "2026-11-28T08:00:00.123Z");
    for (size_t i = 0; i != NUM_TEXT_FIELDS; ++i) { /* each text as given; key_id and reason unset: null */
        const sc_log_text_t *t = text_at(&f, &text_fields[i]);
        const json_t *v = json_object_get(doc, text_fields[i].key);
        if (t->base == NULL)
            assert_true(json_is_null(v));
        else
            assert_string_equal(json_string_value(v), t->base);
    }
    assert_int_equal(json_integer_value(json_object_get(doc, "status")), 200);
    assert_int_equal(json_integer_value(json_object_get(doc, "upstream_status")), 200);
    assert_non_null(strstr(raw, "\"duration_ms\":12.345,"));
    assert_non_null(strstr(raw, "\"upstream_ms\":11.900,"));
    assert_int_equal(json_integer_value(json_object_get(doc, "bytes_in")), 512);
    assert_int_equal(json_integer_value(json_object_get(doc, "bytes_out")), (json_int_t)1 << 40);
    json_decref(doc);
}

/* Nothing known (a request refused before the pipeline): the same keys, nulls and zeros. */
static void test_empty_line_keeps_every_field(void **state)
{
    (void)state;
    sc_log_line_t f = {.status = -1}; /* h2o's status before a response: logged as 0 */
    json_t *doc = format_and_parse(&f);
    check_shape(doc);
    for (size_t i = 0; i != NUM_TEXT_FIELDS; ++i)
        if (!json_is_null(json_object_get(doc, text_fields[i].key)))
            fail_msg("%s: should be null", text_fields[i].key);
    assert_string_equal(string_of(doc, "time"), "1970-01-01T00:00:00.000Z");
    assert_int_equal(json_integer_value(json_object_get(doc, "status")), 0);
    assert_true(json_is_null(json_object_get(doc, "upstream_status")));
    assert_true(json_is_null(json_object_get(doc, "upstream_ms")));
    assert_non_null(strstr(raw, "\"duration_ms\":0.000,"));
    json_decref(doc);

    for (size_t i = 0; i != NUM_TEXT_FIELDS; ++i) { /* an empty value is null too, not "" */
        f = example();
        *text_at(&f, &text_fields[i]) = (sc_log_text_t){"ignored", 0};
        doc = format_and_parse(&f);
        if (!json_is_null(json_object_get(doc, text_fields[i].key)))
            fail_msg("%s: an empty value should be null", text_fields[i].key);
        json_decref(doc);
    }
}

/* The time: milliseconds truncated, and right across seconds (log_line.c caches the second). */
static void test_time(void **state)
{
    (void)state;
    static const struct {
        struct timeval tv;
        const char *expected;
    } rows[] = {
        {{1795852800, 999999}, "2026-11-28T08:00:00.999Z"}, {{1795852801, 0}, "2026-11-28T08:00:01.000Z"},
        {{1795852801, 1999}, "2026-11-28T08:00:01.001Z"},   {{1795852800, 500000}, "2026-11-28T08:00:00.500Z"},
        {{951782400, 42000}, "2000-02-29T00:00:00.042Z"},
    };
    for (size_t i = 0; i != sizeof(rows) / sizeof(rows[0]); ++i) {
        sc_log_line_t f = {.time = rows[i].tv};
        json_t *doc = format_and_parse(&f);
        assert_string_equal(string_of(doc, "time"), rows[i].expected);
        json_decref(doc);
    }
}

/* Each text field, given hostile bytes, logs them back exactly (invalid UTF-8 as U+FFFD, one per
 * byte) and cannot add or change another field. */
static void test_hostile_values_in_every_field(void **state)
{
    (void)state;
    static const struct {
        const char *name, *value, *logged;
    } hostile[] = {
        {"a forged field", "x\",\"status\":200,\"decision\":\"allow", "x\",\"status\":200,\"decision\":\"allow"},
        {"backslashes", "\\\\u0000\\", "\\\\u0000\\"},
        {"control bytes", "a\x01\x1f\t\r\n\x7f\x1b[2Jb", "a\x01\x1f\t\r\n\x7f\x1b[2Jb"},
        {"invalid UTF-8", "\xff\xfe|\xc3|\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xe2\x82",
         "\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
         "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd"},
        {"valid UTF-8 kept", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"},
    };
    for (size_t h = 0; h != sizeof(hostile) / sizeof(hostile[0]); ++h) {
        for (size_t i = 0; i != NUM_TEXT_FIELDS; ++i) {
            sc_log_line_t f = example();
            *text_at(&f, &text_fields[i]) = sc_log_line_cstr(hostile[h].value);
            json_t *doc = format_and_parse(&f);
            check_shape(doc);
            const char *logged = string_of(doc, text_fields[i].key);
            if (strcmp(logged, hostile[h].logged) != 0)
                fail_msg("%s in %s: logged as \"%s\"", hostile[h].name, text_fields[i].key, logged);
            assert_int_equal(json_integer_value(json_object_get(doc, "status")), 200);
            if (strcmp(text_fields[i].key, "decision") != 0)
                assert_string_equal(string_of(doc, "decision"), "allow");
            json_decref(doc);
        }
    }
}

/* Each field at its bound is logged whole; one byte more and it is cut, with the marker, to the
 * bound; a cut never splits an escape or a character. */
static void test_long_values_cut_whole_with_marker(void **state)
{
    (void)state;
    static char long_text[4096], escapes[4096];
    memset(long_text, 'a', sizeof(long_text));
    for (size_t i = 0; i + 2 <= sizeof(escapes); i += 2) /* é, then a byte escaped as \u0001 */
        escapes[i] = i % 4 == 0 ? '\xc3' : '\x01', escapes[i + 1] = i % 4 == 0 ? '\xa9' : '\x01';
    const size_t marker = sizeof(SC_JSON_CUT_MARKER) - 1;
    for (size_t i = 0; i != NUM_TEXT_FIELDS; ++i) {
        const struct text_field *t = &text_fields[i];
        sc_log_line_t f = example();

        *text_at(&f, t) = (sc_log_text_t){long_text, t->max};
        json_t *doc = format_and_parse(&f);
        if (strlen(string_of(doc, t->key)) != t->max || strstr(string_of(doc, t->key), SC_JSON_CUT_MARKER) != NULL)
            fail_msg("%s: %zu bytes should be logged whole", t->key, t->max);
        json_decref(doc);

        *text_at(&f, t) = (sc_log_text_t){long_text, t->max + 1};
        doc = format_and_parse(&f);
        const char *logged = string_of(doc, t->key);
        size_t len = strlen(logged);
        if (len != t->max || strcmp(logged + len - marker, SC_JSON_CUT_MARKER) != 0 || strspn(logged, "a") != t->max - marker)
            fail_msg("%s: %zu bytes should be cut to %zu with the marker, got %zu", t->key, t->max + 1, t->max, len);
        if (strcmp(t->key, "decision") != 0)
            assert_string_equal(string_of(doc, "decision"), "allow"); /* the others untouched */
        json_decref(doc);

        *text_at(&f, t) = (sc_log_text_t){escapes, sizeof(escapes)};
        doc = format_and_parse(&f); /* valid JSON and UTF-8: nothing split */
        logged = string_of(doc, t->key);
        len = strlen(logged);
        if (strcmp(logged + len - marker, SC_JSON_CUT_MARKER) != 0)
            fail_msg("%s: a long escaped value should end with the marker", t->key);
        assert_true(raw_len < SC_LOG_LINE_MAX);
        json_decref(doc);
    }
}

/* Query parameters whose names suggest a secret keep their name and lose their value. */
static void test_query_redaction(void **state)
{
    (void)state;
    static const struct {
        const char *query, *logged;
    } rows[] = {
        {"stream=1&api_key=abc&access_token=x.y.z", "stream=1&api_key=REDACTED&access_token=REDACTED"},
        {"page=2&sort=asc", "page=2&sort=asc"},
        {"", ""},
        {"API_KEY=abc&Password=hunter2", "API_KEY=REDACTED&Password=REDACTED"},
        {"X-Amz-Signature=abcd&X-Amz-Credential=AKIA", "X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED"},
        {"code=123&session_id=s&client_secret=c&passwd=p&jwt=e.y.j&authorization=Bearer%20x",
         "code=REDACTED&session_id=REDACTED&client_secret=REDACTED&passwd=REDACTED&jwt=REDACTED&authorization=REDACTED"},
        {"token=a=b&token=&token", "token=REDACTED&token=REDACTED&token"}, /* the whole value, even empty; no value: nothing */
        {"x=token&=secret", "x=token&=secret"},                            /* the name decides, not the value */
        {"a=1&&b=2&", "a=1&&b=2&"},
        {"monkey=banana", "monkey=REDACTED"}, /* "key" anywhere in the name: hiding too much is the safe mistake */
    };
    for (size_t i = 0; i != sizeof(rows) / sizeof(rows[0]); ++i) {
        h2o_mem_pool_t pool;
        h2o_mem_init_pool(&pool);
        h2o_iovec_t out = sc_request_log_redact_query(&pool, rows[i].query, strlen(rows[i].query));
        if (out.len != strlen(rows[i].logged) || memcmp(out.base, rows[i].logged, out.len) != 0)
            fail_msg("%s: got %.*s, expected %s", rows[i].query, (int)out.len, out.base, rows[i].logged);
        h2o_mem_clear_pool(&pool);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_field_with_its_type),
        cmocka_unit_test(test_empty_line_keeps_every_field),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_hostile_values_in_every_field),
        cmocka_unit_test(test_long_values_cut_whole_with_marker),
        cmocka_unit_test(test_query_redaction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
