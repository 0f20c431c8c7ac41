#include "json_out.h"

#include "numfmt.h"

#include <stdio.h>
#include <string.h>

void sc_json_init(sc_json_buf_t *b, char *storage, size_t cap)
{
    b->base = storage;
    b->len = 0;
    b->cap = cap;
    b->truncated = 0;
}

void sc_json_raw(sc_json_buf_t *b, const char *s, size_t len)
{
    if (b->len + len > b->cap) {
        b->truncated = 1;
        return;
    }
    memcpy(b->base + b->len, s, len);
    b->len += len;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
    size_t n;
    unsigned min;
    unsigned cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0)
        n = 2, min = 0x80, cp = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0)
        n = 3, min = 0x800, cp = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0)
        n = 4, min = 0x10000, cp = s[0] & 0x07;
    else
        return 0;
    if (n > avail)
        return 0;
    for (size_t i = 1; i != n; ++i) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* 1 for the bytes that can be copied as they are: printable ASCII but the quote and backslash. */
static int plain_byte(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

void sc_json_string(sc_json_buf_t *b, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    sc_json_lit(b, "\"");
    for (size_t i = 0; i < len;) {
        size_t run = i;
        while (run < len && plain_byte(s[run])) /* the common case: copied in one go */
            ++run;
        if (run != i) {
            sc_json_raw(b, str + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            sc_json_raw(b, esc, 2);
            ++i;
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            sc_json_raw(b, esc, 6);
            ++i;
        } else {
            size_t n = utf8_seq_len(s + i, len - i);
            if (n == 0) {
                sc_json_lit(b, "\\ufffd");
                ++i;
            } else {
                sc_json_raw(b, (const char *)s + i, n);
                i += n;
            }
        }
    }
    sc_json_lit(b, "\"");
}

void sc_json_uint(sc_json_buf_t *b, unsigned long long v)
{
    char num[SC_UINT_MAX_DIGITS];
    sc_json_raw(b, num, sc_format_uint(num, v));
}
