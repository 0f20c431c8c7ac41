/* The access-log line (log_line.c) and the JSON writer under it (json_out.c): every field
 * escaped, long fields cut whole with a marker, nothing kept after something lost. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <string.h>

#include "json_out.h"
#include "log_line.h"

static sc_log_text_t text(const char *s)
{
    return sc_log_line_cstr(s);
}

/* Formats the line, checks it is one JSON object on one line, and returns it parsed. */
static json_t *format_and_parse(const sc_log_line_t *f)
{
    static char out[SC_LOG_LINE_MAX];
    size_t len = sc_log_line_format(f, out);
    assert_true(len > 1 && len <= SC_LOG_LINE_MAX);
    assert_int_equal(out[len - 1], '\n');
    assert_null(memchr(out, '\n', len - 1));
    json_error_t err;
    json_t *doc = json_loadb(out, len, JSON_REJECT_DUPLICATES, &err);
    if (doc == NULL)
        fail_msg("not JSON (%s): %.*s", err.text, (int)len, out);
    assert_true(json_is_object(doc));
    return doc;
}

static void test_tenant_cannot_forge_fields(void **state)
{
    (void)state;
    const char *hostile = "x\",\"status\":200,\"path\":\"/langchain/health";
    sc_log_line_t f = {.tenant = text(hostile), .path = text("/langchain/admin"), .status = 401, .decision = text("deny")};
    json_t *doc = format_and_parse(&f);
    assert_string_equal(json_string_value(json_object_get(doc, "tenant")), hostile);
    assert_int_equal(json_integer_value(json_object_get(doc, "status")), 401);
    assert_string_equal(json_string_value(json_object_get(doc, "path")), "/langchain/admin");
    json_decref(doc);
}

static void test_quotes_backslashes_and_bad_bytes_stay_valid(void **state)
{
    (void)state;
    sc_log_line_t f = {.tenant = text("a\"b\\"), .subject = text("\xff\xfe"), .method = text("G\nET"), .key_id = text("k\x01")};
    json_t *doc = format_and_parse(&f);
    assert_string_equal(json_string_value(json_object_get(doc, "tenant")), "a\"b\\");
    assert_string_equal(json_string_value(json_object_get(doc, "subject")), "\xef\xbf\xbd\xef\xbf\xbd");
    assert_string_equal(json_string_value(json_object_get(doc, "method")), "G\nET");
    json_decref(doc);
}

/* The path of the issue: 8,200 'A', an invalid byte, then a public route. */
static void test_long_path_cut_whole_with_marker(void **state)
{
    (void)state;
    static char path[9000];
    size_t n = 0;
    n += (size_t)sprintf(path + n, "/langchain/admin/drop-all-tables");
    memset(path + n, 'A', 8200), n += 8200;
    n += (size_t)sprintf(path + n, "\xff/langchain/health");
    sc_log_line_t f = {.path = {path, n}, .query = {path, n}, .tenant = text("acme"), .status = 200};
    json_t *doc = format_and_parse(&f);
    const char *logged = json_string_value(json_object_get(doc, "path"));
    assert_non_null(logged);
    assert_memory_equal(logged, "/langchain/admin/drop-all-tables", 32);
    assert_non_null(strstr(logged, SC_JSON_CUT_MARKER));
    assert_null(strstr(logged, "/langchain/health"));
    assert_string_equal(json_string_value(json_object_get(doc, "tenant")), "acme");
    json_decref(doc);
}

/* Escapes are never split by a cut: a field of quotes cut at any bound is still valid JSON. */
static void test_cut_never_splits_an_escape(void **state)
{
    (void)state;
    char storage[64];
    const char *inputs[] = {"\"\"\"\"\"\"\"\"\"\"\"\"", "\x01\x02\x03\x04\x05\x06\x07", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
                            "ab\"cd\001efgh"}; /* octal: a hex escape would swallow the "ef" */
    for (size_t k = 0; k != sizeof(inputs) / sizeof(inputs[0]); ++k) {
        for (size_t max = sizeof(SC_JSON_CUT_MARKER) - 1; max != 40; ++max) {
            sc_json_buf_t b;
            sc_json_out_init(&b, storage, sizeof(storage));
            sc_json_out_string_max(&b, inputs[k], strlen(inputs[k]), max);
            assert_false(b.truncated);
            assert_true(b.len <= max + 2);
            json_error_t err;
            json_t *v = json_loadb(b.base, b.len, JSON_DECODE_ANY, &err);
            if (v == NULL)
                fail_msg("max %zu: not JSON: %.*s", max, (int)b.len, b.base);
            json_decref(v);
        }
    }
}

/* An escape that does not fit must not be dropped while what follows is kept. */
static void test_nothing_kept_after_something_lost(void **state)
{
    (void)state;
    char storage[12];
    sc_json_buf_t b;
    sc_json_out_init(&b, storage, sizeof(storage));
    sc_json_out_string(&b, "AAAAAAAAA\xff/x", 12);
    assert_true(b.truncated);
    assert_null(memchr(b.base, '/', b.len));
    sc_json_out_lit(&b, "}");
    assert_null(memchr(b.base, '}', b.len));
}

/* What a gateway says is logged escaped and bounded: a forged trace id cannot add a field. */
static void test_gateway_fields(void **state)
{
    (void)state;
    const char *forged = "Root=1-x\",\"status\":200,\"decision\":\"allow\t\x01\xff";
    sc_log_line_t f = {.status = 401,
                       .decision = text("deny"),
                       .remote_addr = text("10.0.3.7"),
                       .client_addr = text("203.0.113.9"),
                       .trace_id = text(forged),
                       .gateway_request_id = text("c6af9ac6-7b61-11e6-9a41-93e8deadbeef")};
    json_t *doc = format_and_parse(&f);
    assert_string_equal(json_string_value(json_object_get(doc, "remote_addr")), "10.0.3.7");
    assert_string_equal(json_string_value(json_object_get(doc, "client_addr")), "203.0.113.9");
    assert_string_equal(json_string_value(json_object_get(doc, "trace_id")),
                        "Root=1-x\",\"status\":200,\"decision\":\"allow\t\x01\xef\xbf\xbd");
    assert_string_equal(json_string_value(json_object_get(doc, "gateway_request_id")), "c6af9ac6-7b61-11e6-9a41-93e8deadbeef");
    assert_int_equal(json_integer_value(json_object_get(doc, "status")), 401);
    assert_string_equal(json_string_value(json_object_get(doc, "decision")), "deny");
    json_decref(doc);

    f = (sc_log_line_t){.status = 200}; /* not from a trusted proxy: null */
    doc = format_and_parse(&f);
    assert_true(json_is_null(json_object_get(doc, "trace_id")));
    assert_true(json_is_null(json_object_get(doc, "gateway_request_id")));
    assert_true(json_is_null(json_object_get(doc, "client_addr")));
    json_decref(doc);
}

/* Every field at its bound, each byte escaped six times over: the line still fits, whole. */
static void test_every_field_at_its_bound(void **state)
{
    (void)state;
    static char hostile[4096];
    memset(hostile, 0x01, sizeof(hostile));
    sc_log_text_t h = {hostile, sizeof(hostile)};
    sc_log_line_t f = {.request_id = h,
                       .service = h,
                       .route = h,
                       .method = h,
                       .path = h,
                       .query = h,
                       .tenant = h,
                       .subject = h,
                       .auth_method = h,
                       .key_id = h,
                       .decision = h,
                       .reason = h,
                       .remote_addr = h,
                       .client_addr = h,
                       .trace_id = h,
                       .gateway_request_id = h,
                       .status = 200,
                       .upstream_answered = 1};
    json_t *doc = format_and_parse(&f);
    assert_null(json_object_get(doc, "error")); /* not the fallback line */
    const char *trace = json_string_value(json_object_get(doc, "trace_id"));
    assert_non_null(trace);
    assert_non_null(strstr(trace, SC_JSON_CUT_MARKER));
    assert_non_null(json_object_get(doc, "gateway_request_id"));
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tenant_cannot_forge_fields),
        cmocka_unit_test(test_quotes_backslashes_and_bad_bytes_stay_valid),
        cmocka_unit_test(test_long_path_cut_whole_with_marker),
        cmocka_unit_test(test_cut_never_splits_an_escape),
        cmocka_unit_test(test_nothing_kept_after_something_lost),
        cmocka_unit_test(test_gateway_fields),
        cmocka_unit_test(test_every_field_at_its_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
