#include "json_out.h"

#include "numfmt.h"
#include "text.h"

#include <stdint.h>
#include <string.h>

#define CUT_MARKER_LEN (sizeof(SC_JSON_CUT_MARKER) - 1)

void sc_json_out_init(sc_json_buf_t *b, char *storage, size_t cap)
{
    b->base = storage;
    b->len = 0;
    b->cap = cap;
    b->truncated = 0;
}

void sc_json_out_raw(sc_json_buf_t *b, const char *s, size_t len)
{
    if (b->truncated || len > b->cap - b->len) {
        b->truncated = 1; /* sticky: what follows must not be kept without what was lost */
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

/*
 * The escaped form of the character at s (not a plain byte): written to out (at most 6 bytes),
 * its length returned; *consumed receives the number of input bytes it stands for.
 */
static size_t escape_one(const unsigned char *s, size_t avail, char *out, size_t *consumed)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char c = s[0];
    *consumed = 1;
    if (c == '"' || c == '\\') {
        out[0] = '\\', out[1] = (char)c;
        return 2;
    }
    if (sc_text_is_control(c)) {
        memcpy(out, "\\u00", 4);
        out[4] = hex[c >> 4], out[5] = hex[c & 15];
        return 6;
    }
    size_t n = utf8_seq_len(s, avail);
    if (n == 0) {
        memcpy(out, "\\ufffd", 6);
        return 6;
    }
    memcpy(out, s, n);
    *consumed = n;
    return n;
}

int sc_json_out_string_max(sc_json_buf_t *b, const char *str, size_t len, size_t max)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t room = max, keep = max > CUT_MARKER_LEN ? max - CUT_MARKER_LEN : 0;
    size_t written = 0, cut_len = 0; /* cut_len: the longest prefix written that leaves room for the marker */
    sc_json_out_lit(b, "\"");
    size_t start = b->len;
    for (size_t i = 0; i < len;) {
        if (plain_byte(s[i])) { /* the common case: a run copied in one go, cut anywhere */
            size_t run = i;
            while (run < len && plain_byte(s[run]))
                ++run;
            size_t n = run - i;
            if (n > room - written) {
                if (written < keep) { /* a plain run can be cut anywhere: keep what leaves room for the marker */
                    sc_json_out_raw(b, str + i, keep - written);
                    written = cut_len = keep;
                }
                goto Cut;
            }
            sc_json_out_raw(b, str + i, n);
            if (written <= keep)
                cut_len = written + n < keep ? written + n : keep;
            written += n;
            i = run;
            continue;
        }
        char esc[8];
        size_t consumed, n = escape_one(s + i, len - i, esc, &consumed);
        if (n > room - written)
            goto Cut;
        sc_json_out_raw(b, esc, n);
        written += n;
        if (written <= keep)
            cut_len = written;
        i += consumed;
    }
    sc_json_out_lit(b, "\"");
    return 0;

Cut:
    if (!b->truncated)
        b->len = start + cut_len; /* whole characters only: cut_len is a character boundary */
    sc_json_out_lit(b, SC_JSON_CUT_MARKER "\"");
    return 1;
}

void sc_json_out_string(sc_json_buf_t *b, const char *str, size_t len)
{
    sc_json_out_string_max(b, str, len, SIZE_MAX);
}

void sc_json_out_uint(sc_json_buf_t *b, unsigned long long v)
{
    char num[SC_UINT_MAX_DIGITS];
    sc_json_out_raw(b, num, sc_numfmt_uint(num, v));
}
