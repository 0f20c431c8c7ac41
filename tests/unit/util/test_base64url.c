/* base64url as JWS uses it: one encoding per byte string, nothing else accepted. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64url.h"

static void test_base64url(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out; /* NULL: must be refused */
        size_t outlen;
    } cases[] = {
        {"", "", 0},         {"Zg", "f", 1},        {"Zm8", "fo", 2},
        {"Zm9v", "foo", 3},  {"Zm9vYg", "foob", 4}, {"-_8", "\xfb\xff", 2}, /* the URL-safe characters */
        {"Zg==", NULL, 0},                                                  /* padding */
        {"Zm9v=", NULL, 0},  {"Z", NULL, 0},                                /* a length of 4n+1 encodes nothing */
        {"Zh", NULL, 0},                                                    /* unused bits set: "f" has one encoding */
        {"Zm9", NULL, 0},                                                   /* idem */
        {"+/8", NULL, 0},                                                   /* the standard alphabet */
        {"Zm 9v", NULL, 0},                                                 /* whitespace */
        {"Zm9v\n", NULL, 0},                                                /* idem */
        {"Zm.v", NULL, 0},
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        unsigned char out[16];
        size_t outlen = 99;
        int rc = sc_base64url_decode(cases[i].in, strlen(cases[i].in), out, sizeof(out), &outlen);
        if (cases[i].out == NULL) {
            if (rc != -1)
                fail_msg("\"%s\" was accepted", cases[i].in);
        } else {
            if (rc != 0)
                fail_msg("\"%s\" was refused", cases[i].in);
            assert_int_equal(outlen, cases[i].outlen);
            assert_memory_equal(out, cases[i].out, outlen);
        }
    }
    /* the output must fit */
    unsigned char small[2];
    size_t n;
    assert_int_equal(sc_base64url_decode("Zm9v", 4, small, sizeof(small), &n), -1);
    assert_int_equal(sc_base64url_decode("Zm8", 3, small, sizeof(small), &n), 0);
    /* only len bytes are read */
    unsigned char out[8];
    assert_int_equal(sc_base64url_decode("Zm9v!!", 4, out, sizeof(out), &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "foo", 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
