#define _GNU_SOURCE /* memmem */
/* libFuzzer target: the path normaliser (sc_path_normalize), both settings, with its contract
 * checked: never longer than the input, starts with '/', no empty, "." or ".." segment left, and
 * normalising again changes nothing (the backend reads what the policy read). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int has_segment(const char *p, size_t len, const char *seg)
{
    size_t n = strlen(seg);
    for (size_t i = 0; i + n + 1 <= len; ++i)
        if (p[i] == '/' && memcmp(p + i + 1, seg, n) == 0 && (i + 1 + n == len || p[i + 1 + n] == '/'))
            return 1;
    return 0;
}

static void check(const char *in, size_t len, sc_path_unusual_t unusual)
{
    char *out = malloc(len + 1), *again = malloc(len + 1);
    size_t out_len, again_len;
    if (sc_path_normalize(in, len, unusual, out, &out_len) == 0) {
        if (out_len == 0 || out_len > len || out[0] != '/')
            abort();
        if (memmem(out, out_len, "//", 2) != NULL || has_segment(out, out_len, ".") || has_segment(out, out_len, ".."))
            abort();
        if (unusual == SC_PATH_REJECT && (memchr(out, ';', out_len) != NULL || memchr(out, '\\', out_len) != NULL))
            abort();
        if (sc_path_normalize(out, out_len, unusual, again, &again_len) != 0 || again_len != out_len ||
            memcmp(again, out, out_len) != 0)
            abort();
    }
    free(out);
    free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check((const char *)data, size, SC_PATH_REJECT);
    check((const char *)data, size, SC_PATH_NORMALIZE);
    return 0;
}
