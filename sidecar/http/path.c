#include "path.h"

#include <string.h>

#include "hex.h"
#include "text.h"

static int unreserved(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

/* Removes the last segment written (and its '/'), for "..": out keeps at least the root "/". */
static size_t drop_last_segment(const char *out, size_t len)
{
    /* out ends with '/' (the segment "..": nothing of it was written yet); step over that '/' */
    if (len <= 1)
        return 1;
    size_t i = len - 1;
    while (i > 0 && out[i - 1] != '/')
        --i;
    return i > 0 ? i : 1;
}

/*
 * Appends one segment (the bytes between two '/', already decoded) to out, which ends with '/'.
 * "." is dropped, ".." removes the previous segment; an empty segment is merged.
 * `last`: the segment ends the path (a trailing "/." or "/.." leaves the path ending in '/').
 */
static size_t add_segment(char *out, size_t len, const char *seg, size_t seg_len, int last)
{
    if (seg_len == 0 || (seg_len == 1 && seg[0] == '.'))
        return len;
    if (seg_len == 2 && seg[0] == '.' && seg[1] == '.')
        return drop_last_segment(out, len);
    memmove(out + len, seg, seg_len);
    len += seg_len;
    if (!last)
        out[len++] = '/';
    return len;
}

/*
 * Decodes the segment at path[*i..) up to the next separator into seg. Returns the segment's
 * length, or -1 when the path is refused; *i is left on the separator or at the end.
 */
static long read_segment(const char *path, size_t len, size_t *i, sc_path_unusual_t unusual, char *seg)
{
    size_t n = 0;
    int in_params = 0; /* after ';' with SC_PATH_NORMALIZE: dropped until the segment ends */
    while (*i < len) {
        unsigned char c = (unsigned char)path[*i];
        if (c == '/')
            return (long)n;
        if (c == '\\') {
            if (unusual == SC_PATH_REJECT)
                return -1;
            return (long)n; /* a separator, like '/' */
        }
        if (sc_text_is_control(c))
            return -1;
        if (c == '%') {
            if (*i + 2 >= len)
                return -1;
            int hi = sc_hex_digit(path[*i + 1]), lo = sc_hex_digit(path[*i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            int d = hi * 16 + lo;
            if (d == '/' || d == '\\') {
                if (unusual == SC_PATH_REJECT)
                    return -1;
                return (long)n; /* the caller sees the escape and steps over it as a separator */
            }
            *i += 3;
            if (in_params)
                continue;
            if (unreserved(d)) {
                seg[n++] = (char)d;
            } else {
                static const char hex[] = "0123456789ABCDEF";
                seg[n++] = '%', seg[n++] = hex[d >> 4], seg[n++] = hex[d & 15];
            }
            continue;
        }
        if (c == ';') {
            if (unusual == SC_PATH_REJECT)
                return -1;
            in_params = 1;
        }
        ++*i;
        if (!in_params)
            seg[n++] = (char)c;
    }
    return (long)n;
}

/* The length of the separator at path[i]: '/' or '\' (1), %2F or %5C (3). */
static size_t separator_len(const char *path, size_t len, size_t i)
{
    if (i >= len)
        return 0;
    return path[i] == '%' ? 3 : 1;
}

int sc_path_normalize(const char *path, size_t len, sc_path_unusual_t unusual, char *out, size_t *out_len)
{
    if (len == 0 || path[0] != '/')
        return -1;
    /*
     * out holds the result so far at its start; the segment being read is decoded right after it
     * (decoding never lengthens, and the result never outruns the input read so far), then moved
     * into place by add_segment.
     */
    size_t o = 1, i = 1;
    out[0] = '/';
    while (i <= len) {
        long n = read_segment(path, len, &i, unusual, out + o);
        if (n < 0)
            return -1;
        int last = i >= len;
        o = add_segment(out, o, out + o, (size_t)n, last);
        if (last) {
            /* "/a/." and "/a/.." end with the directory they name: "/a/" and "/" */
            break;
        }
        i += separator_len(path, len, i);
        if (i >= len)
            break; /* the path ends with a separator: out already ends with '/' */
    }
    *out_len = o;
    return 0;
}
