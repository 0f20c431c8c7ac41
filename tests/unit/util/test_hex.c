/* hex: the one reading of hex digits (percent-escapes, certificate pins, API key digests). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "hex.h"

static void test_digits(void **state)
{
    (void)state;
    const char *digits = "0123456789abcdef", *upper = "ABCDEF";
    for (int i = 0; i != 16; ++i)
        assert_int_equal(sc_hex_digit(digits[i]), i);
    for (int i = 0; i != 6; ++i)
        assert_int_equal(sc_hex_digit(upper[i]), 10 + i);
    for (int c = 0; c != 256; ++c)
        if (strchr("0123456789abcdefABCDEF", c) == NULL || c == 0)
            assert_int_equal(sc_hex_digit(c), -1);
}

static void test_decode(void **state)
{
    (void)state;
    unsigned char out[4];
    assert_int_equal(sc_hex_decode("00ff7Aa0", 8, out), 0);
    assert_memory_equal(out, "\x00\xff\x7a\xa0", 4);
    assert_int_equal(sc_hex_decode("", 0, out), 0);
    assert_int_equal(sc_hex_decode("abc", 3, out), -1);   /* odd length */
    assert_int_equal(sc_hex_decode("0g", 2, out), -1);    /* not a digit */
    assert_int_equal(sc_hex_decode("0\x80", 2, out), -1); /* a high byte */
    assert_int_equal(sc_hex_decode("0\0", 2, out), -1);   /* NUL inside the length */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digits),
        cmocka_unit_test(test_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
