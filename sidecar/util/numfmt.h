/*
 * numfmt: decimal formatting for the request path, where snprintf's format parsing costs more
 * than the number it prints.
 */
#ifndef SC_NUMFMT_H
#define SC_NUMFMT_H

#include <stddef.h>
#include <string.h>

#define SC_UINT_MAX_DIGITS 20

/**
 * Writes `v` in decimal at `out` (no NUL) and returns the number of characters.
 */
static inline size_t sc_numfmt_uint(char *out, unsigned long long v)
{
    char digits[SC_UINT_MAX_DIGITS], *p = digits + sizeof(digits);
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    size_t n = (size_t)(digits + sizeof(digits) - p);
    memcpy(out, p, n);
    return n;
}

#endif
