/*
 * json_out: appending JSON text to a bounded buffer: strings escaped per RFC 8259, with control
 * characters and invalid UTF-8 made safe, so that anything from a request can be logged or
 * echoed without breaking the document.
 */
#ifndef SC_JSON_OUT_H
#define SC_JSON_OUT_H

#include <stddef.h>

typedef struct sc_json_buf {
    char *base;
    size_t len;
    size_t cap;
    int truncated; /* set when something did not fit */
} sc_json_buf_t;

void sc_json_init(sc_json_buf_t *b, char *storage, size_t cap);

/* Raw text, copied as is (keys, punctuation, numbers). */
void sc_json_raw(sc_json_buf_t *b, const char *s, size_t len);
#define sc_json_lit(b, lit) sc_json_raw((b), (lit), sizeof(lit) - 1)

/* A quoted, escaped string value. Bytes that are not valid UTF-8 become U+FFFD. */
void sc_json_string(sc_json_buf_t *b, const char *s, size_t len);

/* An unsigned integer. */
void sc_json_uint(sc_json_buf_t *b, unsigned long long v);

#endif
