/* The records' space-separated lists: separators, duplicates, bounds, exact membership. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "words.h"

static void assert_words(const char *input, size_t len, const char *const *expected, size_t expected_count)
{
    char **words = (char **)1; /* must be overwritten */
    size_t count = 99;
    if (sc_words_split(input, len, &words, &count) != 0)
        fail_msg("sc_words_split(\"%.*s\") failed", (int)len, input);
    if (count != expected_count) {
        sc_words_free(words, count);
        fail_msg("\"%.*s\": expected %zu words, got %zu", (int)len, input, expected_count, count);
    }
    for (size_t i = 0; i != count; ++i) {
        if (strcmp(words[i], expected[i]) != 0) {
            char got[64];
            snprintf(got, sizeof(got), "%s", words[i]);
            sc_words_free(words, count);
            fail_msg("\"%.*s\": word %zu: expected \"%s\", got \"%s\"", (int)len, input, i, expected[i], got);
        }
    }
    if (words == (char **)1)
        fail_msg("\"%.*s\": *out was not written", (int)len, input);
    sc_words_free(words, count);
}

#define WORDS(input, ...)                                                                                                          \
    do {                                                                                                                           \
        static const char *const expected_[] = {NULL, __VA_ARGS__};                                                                \
        assert_words((input), strlen(input), expected_ + 1, sizeof(expected_) / sizeof(expected_[0]) - 1);                         \
    } while (0)

static void test_words_split(void **state)
{
    (void)state;
    WORDS("read write", "read", "write");
    WORDS("read,write", "read", "write");
    WORDS("read\twrite", "read", "write");
    WORDS("  read ,, write\t,admin  ", "read", "write", "admin");
    WORDS("a b a c b a", "a", "b", "c");
    WORDS("read read:all", "read", "read:all");
    WORDS("single", "single");
    WORDS("");
    WORDS(" ,\t , ");
    /* the length bounds the input */
    static const char *const first[] = {"read"};
    assert_words("read write", 4, first, 1);
}

static void test_words_contain(void **state)
{
    (void)state;
    char **words;
    size_t count;
    assert_int_equal(sc_words_split("read write:all", 14, &words, &count), 0);
    assert_true(sc_words_contain(words, count, "read", 4));
    assert_true(sc_words_contain(words, count, "write:all", 9));
    assert_false(sc_words_contain(words, count, "rea", 3));
    assert_false(sc_words_contain(words, count, "write", 5));
    assert_false(sc_words_contain(words, count, "reads", 5));
    assert_false(sc_words_contain(words, count, "", 0));
    assert_false(sc_words_contain(NULL, 0, "read", 4));
    sc_words_free(words, count);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words_split),
        cmocka_unit_test(test_words_contain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
