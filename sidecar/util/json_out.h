/*
 * json_out: appending JSON text to a bounded buffer: strings escaped per RFC 8259, with control
 * characters and invalid UTF-8 made safe, so that anything from a request can be logged or
 * echoed without breaking the document.
 *
 * Once something does not fit, the buffer is "truncated" and nothing more is appended: a
 * document is never missing a piece in its middle while keeping what follows (which would let a
 * client choose what a reader sees). Callers that must always produce a whole document bound
 * each string with sc_json_out_string_max, which cuts whole escape sequences and says so.
 */
#ifndef SC_JSON_OUT_H
#define SC_JSON_OUT_H

#include <stddef.h>

/* Appended to a string value cut by sc_json_out_string_max (inside the quotes). */
#define SC_JSON_CUT_MARKER "...[cut]"

typedef struct sc_json_buf {
    char *base;
    size_t len;
    size_t cap;
    int truncated; /* set when something did not fit; from then on nothing is appended */
} sc_json_buf_t;

void sc_json_out_init(sc_json_buf_t *b, char *storage, size_t cap);

/* Raw text, copied as is (keys, punctuation, numbers). */
void sc_json_out_raw(sc_json_buf_t *b, const char *s, size_t len);
#define sc_json_out_lit(b, lit) sc_json_out_raw((b), (lit), sizeof(lit) - 1)

/* A quoted, escaped string value. Bytes that are not valid UTF-8 become U+FFFD. */
void sc_json_out_string(sc_json_buf_t *b, const char *s, size_t len);

/*
 * As sc_json_out_string, but the escaped text between the quotes takes at most `max` bytes
 * (max >= sizeof(SC_JSON_CUT_MARKER) - 1): a longer value is cut before an escape sequence or
 * UTF-8 character, never inside one, and ends with SC_JSON_CUT_MARKER. Returns 1 when cut.
 */
int sc_json_out_string_max(sc_json_buf_t *b, const char *s, size_t len, size_t max);

/* An unsigned integer. */
void sc_json_out_uint(sc_json_buf_t *b, unsigned long long v);

#endif
