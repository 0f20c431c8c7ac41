#include "base64url.h"

#include <stdint.h>

/* The value of each base64url character plus one; 0 for every other byte. Built by the compiler. */
#define B64_VALUE(c)                                                                                                               \
    ((c) >= 'A' && (c) <= 'Z'   ? (c) - 'A' + 1                                                                                    \
     : (c) >= 'a' && (c) <= 'z' ? (c) - 'a' + 27                                                                                   \
     : (c) >= '0' && (c) <= '9' ? (c) - '0' + 53                                                                                   \
     : (c) == '-'               ? 63                                                                                               \
     : (c) == '_'               ? 64                                                                                               \
                                : 0)
/* the cast: clang checks every arm of the conditional against unsigned char, chosen or not */
#define B64_ENTRY(c) (unsigned char)B64_VALUE(c)
#define B64_4(c) B64_ENTRY(c), B64_ENTRY((c) + 1), B64_ENTRY((c) + 2), B64_ENTRY((c) + 3)
#define B64_16(c) B64_4(c), B64_4((c) + 4), B64_4((c) + 8), B64_4((c) + 12)
#define B64_64(c) B64_16(c), B64_16((c) + 16), B64_16((c) + 32), B64_16((c) + 48)
static const unsigned char b64url_table[256] = {B64_64(0), B64_64(64), B64_64(128), B64_64(192)};

int sc_base64url_decode(const char *in, size_t len, unsigned char *out, size_t outsize, size_t *outlen)
{
    size_t rem = len % 4, n = len / 4 * 3 + (rem == 0 ? 0 : rem - 1), o = 0;
    uint32_t acc = 0;

    if (rem == 1 || n > outsize)
        return -1;
    for (size_t i = 0; i != len; ++i) {
        unsigned v = b64url_table[(unsigned char)in[i]];
        if (v == 0)
            return -1;
        acc = acc << 6 | (v - 1);
        if (i % 4 == 3) {
            out[o++] = (unsigned char)(acc >> 16);
            out[o++] = (unsigned char)(acc >> 8);
            out[o++] = (unsigned char)acc;
            acc = 0;
        }
    }
    if (rem == 2) {
        if ((acc & 0xf) != 0) /* 12 bits for 8: the last 4 must be zero */
            return -1;
        out[o++] = (unsigned char)(acc >> 4);
    } else if (rem == 3) {
        if ((acc & 0x3) != 0) /* 18 bits for 16 */
            return -1;
        out[o++] = (unsigned char)(acc >> 10);
        out[o++] = (unsigned char)(acc >> 2);
    }
    *outlen = o;
    return 0;
}
