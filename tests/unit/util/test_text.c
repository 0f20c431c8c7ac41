/* The text rules shared by the daemon and sidecarctl: one table of inputs per rule. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "text.h"

#define A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/* sizeof - 1 rather than strlen, so that an input can carry a NUL byte */
#define S(s) s, sizeof(s) - 1

typedef struct text_case {
    const char *name;
    const char *s;
    size_t len;
    int valid;
} text_case_t;

static void check_cases(const char *rule, int (*valid)(const char *, size_t), const text_case_t *cases, size_t n)
{
    for (size_t i = 0; i != n; ++i) {
        int got = valid(cases[i].s, cases[i].len);
        if (got != cases[i].valid)
            fail_msg("%s, case \"%s\": expected %s, got %s", rule, cases[i].name, cases[i].valid ? "valid" : "invalid",
                     got ? "valid" : "invalid");
    }
}

#define CHECK(rule, cases) check_cases(#rule, rule, cases, sizeof(cases) / sizeof(cases[0]))

static void test_is_control(void **state)
{
    (void)state;
    for (unsigned c = 0; c != 256; ++c)
        assert_int_equal(sc_text_is_control((unsigned char)c), c < 0x20 || c == 0x7f);
}

/* "valid" here means: no control character */
static const text_case_t no_control[] = {
    {"empty", S(""), 1},
    {"printable ASCII", S("Bearer abc.def-ghi_~!\"\\ {}"), 1},
    {"space", S(" "), 1},
    {"UTF-8", S("caf\xc3\xa9"), 1},
    {"high bytes", S("\x80\xff"), 1},
    {"NUL", S("a\0b"), 0},
    {"CR", S("a\rb"), 0},
    {"LF", S("a\nX-Injected: 1"), 0},
    {"tab", S("a\tb"), 0},
    {"0x1f", S("\x1f"), 0},
    {"DEL", S("a\x7f"), 0},
    {"ESC", S("\x1b[31m"), 0},
};

static int has_no_control(const char *s, size_t len)
{
    return !sc_text_has_control(s, len);
}

static void test_has_control(void **state)
{
    (void)state;
    check_cases("sc_text_has_control", has_no_control, no_control, sizeof(no_control) / sizeof(no_control[0]));
    /* the length is what counts, not a NUL terminator */
    assert_false(sc_text_has_control("ab\ncd", 2));
}

static void test_line_valid(void **state)
{
    (void)state;
    assert_true(sc_text_line_valid("CI bot (main)", 64));
    assert_true(sc_text_line_valid("caf\xc3\xa9 \x80\xff", 64));
    assert_true(sc_text_line_valid("a", 1));
    assert_true(sc_text_line_valid(A64, 64));
    assert_false(sc_text_line_valid(A64 "a", 64));
    assert_false(sc_text_line_valid("", 64));
    assert_false(sc_text_line_valid("a\nb", 64));
    assert_false(sc_text_line_valid("a\rb", 64));
    assert_false(sc_text_line_valid("\x01", 64));
    assert_false(sc_text_line_valid("a\x7f", 64));
}

static const text_case_t scope_tokens[] = {
    {"word", S("read"), 1},
    {"one character", S("a"), 1},
    {"Cognito resource server scope", S("langchain/read"), 1},
    {"URL", S("https://api.example/read"), 1},
    {"every allowed punctuation", S("!#$%&'()*+,-./:;<=>?@[]^_`{|}~"), 1},
    {"star", S("*"), 1},
    {"long", S(A64 A64 A64 A64), 1},
    {"empty", S(""), 0},
    {"space", S("read write"), 0},
    {"double quote", S("a\"b"), 0},
    {"backslash", S("a\\b"), 0},
    {"NUL", S("a\0b"), 0},
    {"LF", S("a\nb"), 0},
    {"tab", S("a\tb"), 0},
    {"DEL", S("a\x7f"), 0},
    {"high byte", S("a\x80"), 0},
    {"0xff", S("\xff"), 0},
    {"UTF-8", S("caf\xc3\xa9"), 0},
};

static void test_scope_token_valid(void **state)
{
    (void)state;
    CHECK(sc_text_scope_token_valid, scope_tokens);
    assert_true(sc_text_scope_token_valid("read write", 4));
}

static const text_case_t service_names[] = {
    {"lower case", S("langchain"), 1},
    {"one character", S("a"), 1},
    {"digits, underscore, dash", S("tools-2_eu"), 1},
    {"64 characters", S(A64), 1},
    {"empty", S(""), 0},
    {"65 characters", S(A64 "a"), 0},
    {"upper case", S("LangChain"), 0},
    {"dot", S("lang.chain"), 0},
    {"space", S("lang chain"), 0},
    {"colon (Redis key separator)", S("rl:x"), 0},
    {"star", S("*"), 0},
    {"NUL", S("a\0b"), 0},
    {"LF", S("a\n"), 0},
    {"DEL", S("a\x7f"), 0},
    {"high byte", S("a\xff"), 0},
};

static void test_service_name_valid(void **state)
{
    (void)state;
    CHECK(sc_text_service_name_valid, service_names);
}

static const text_case_t tenant_ids[] = {
    {"lower case", S("acme"), 1},
    {"one character", S("a"), 1},
    {"mixed case, digits, dot, underscore, dash", S("Acme-Corp_2.eu"), 1},
    {"only punctuation", S("._-"), 1},
    {"64 characters", S(A64), 1},
    {"empty", S(""), 0},
    {"65 characters", S(A64 "a"), 0},
    {"space", S("ac me"), 0},
    {"open brace (hash tag)", S("ac{me"), 0},
    {"close brace (hash tag)", S("acme}"), 0},
    {"colon (key separator)", S("acme:key"), 0},
    {"slash", S("acme/x"), 0},
    {"NUL byte", S("ac\0me"), 0},
    {"UTF-8", S("acm\xc3\xa9"), 0},
    {"high byte", S("\xff"), 0},
    {"tab", S("acme\t"), 0},
    {"LF", S("acme\n"), 0},
    {"DEL", S("acme\x7f"), 0},
    {"star", S("*"), 0},
};

static void test_tenant_id_valid(void **state)
{
    (void)state;
    CHECK(sc_text_tenant_id_valid, tenant_ids);
    /* the length is what counts, not a NUL terminator */
    assert_true(sc_text_tenant_id_valid("acme corp", 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_control),        cmocka_unit_test(test_has_control),        cmocka_unit_test(test_line_valid),
        cmocka_unit_test(test_scope_token_valid), cmocka_unit_test(test_service_name_valid), cmocka_unit_test(test_tenant_id_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
