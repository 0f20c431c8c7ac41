/* log: the throttled lines (report_only would-deny decisions, backend failures) keep to their
 * budget per second and say how many were held back. stderr is captured in a temporary file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static int saved_stderr = -1;
static FILE *captured;

static void capture_start(void)
{
    fflush(stderr);
    captured = tmpfile();
    assert_non_null(captured);
    saved_stderr = dup(STDERR_FILENO);
    assert_true(saved_stderr >= 0);
    assert_true(dup2(fileno(captured), STDERR_FILENO) >= 0);
}

/* Stops capturing; returns the captured text (heap) and how many lines it holds. */
static char *capture_stop(size_t *lines)
{
    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    long size = ftell(captured);
    char *text = calloc(1, (size_t)size + 1);
    rewind(captured);
    assert_int_equal(fread(text, 1, (size_t)size, captured), (size_t)size);
    fclose(captured);
    *lines = 0;
    for (const char *p = text; *p != '\0'; ++p)
        *lines += *p == '\n';
    return text;
}

/* Runs `calls` throttled lines within one wall-clock second (retried if a second boundary fell
 * in the middle, which would legitimately reset the budget). */
static char *burst(sc_log_throttle_t *t, unsigned calls, size_t *lines)
{
    for (;;) {
        sc_log_throttle_t copy = *t;
        capture_start();
        time_t before = time(NULL);
        for (unsigned i = 0; i != calls; ++i)
            sc_log_throttled(t, SC_LOG_INFO, "report_only: line %u", i);
        time_t after = time(NULL);
        char *text = capture_stop(lines);
        if (before == after)
            return text;
        free(text);
        *t = copy;
    }
}

static void test_budget_per_second(void **state)
{
    (void)state;
    sc_log_throttle_t t = {.per_second = 3};
    size_t lines;
    char *text = burst(&t, 10, &lines);
    assert_int_equal(lines, 3); /* the first three, then nothing */
    assert_non_null(strstr(text, " info: report_only: line 0\n"));
    assert_non_null(strstr(text, " info: report_only: line 2\n"));
    assert_null(strstr(text, "line 3"));
    free(text);
    assert_int_equal(t.suppressed, 7);

    t.second -= 1; /* as if the second were over */
    text = burst(&t, 1, &lines);
    assert_int_equal(lines, 1);
    assert_non_null(strstr(text, "report_only: line 0 (7 more like it suppressed before this one)\n"));
    free(text);
    assert_int_equal(t.suppressed, 0);
}

static void test_zero_budget_means_one(void **state)
{
    (void)state;
    sc_log_throttle_t t = {0}; /* the existing users: one line per second */
    size_t lines;
    char *text = burst(&t, 5, &lines);
    assert_int_equal(lines, 1);
    free(text);
    assert_int_equal(t.suppressed, 4);
}

static void test_below_the_level_counts_nothing(void **state)
{
    (void)state;
    sc_log_throttle_t t = {.per_second = 2};
    sc_log_set_level(SC_LOG_WARN);
    size_t lines;
    char *text = burst(&t, 5, &lines);
    sc_log_set_level(SC_LOG_INFO);
    assert_int_equal(lines, 0);
    free(text);
    assert_int_equal(t.suppressed, 0);
    assert_int_equal(t.used, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget_per_second),
        cmocka_unit_test(test_zero_budget_means_one),
        cmocka_unit_test(test_below_the_level_counts_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
