/*
 * hex: hexadecimal digits, the one reading of them (percent-escapes in paths, certificate pins,
 * SHA-256 digests of API keys).
 */
#ifndef SC_HEX_H
#define SC_HEX_H

#include <stddef.h>

/* The value of a hex digit (either case), or -1. */
int sc_hex_digit(int c);

/**
 * Decodes `len` hex digits (an even number) into len / 2 bytes at `out`. Returns 0, or -1 on a
 * character that is not a hex digit or an odd length (out is then partly written).
 */
int sc_hex_decode(const char *hex, size_t len, unsigned char *out);

#endif
