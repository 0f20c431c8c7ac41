/*
 * base64url: the one decoding of JWS segments, strict so that a token has one spelling.
 */
#ifndef SC_BASE64URL_H
#define SC_BASE64URL_H

#include <stddef.h>

/**
 * Strict base64url (RFC 4648 section 5) without padding, as JWS uses it: only A-Z a-z 0-9 - _,
 * no '=', no whitespace, and the unused bits of the last character must be zero, so that every
 * byte string has exactly one encoding. Returns 0 and the decoded length in *outlen, or -1 when
 * the input is not such an encoding or does not fit in outsize bytes.
 */
int sc_base64url_decode(const char *in, size_t len, unsigned char *out, size_t outsize, size_t *outlen);

#endif
