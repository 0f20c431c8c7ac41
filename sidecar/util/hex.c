#include "hex.h"

int sc_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int sc_hex_decode(const char *hex, size_t len, unsigned char *out)
{
    if (len % 2 != 0)
        return -1;
    for (size_t i = 0; i != len; i += 2) {
        int hi = sc_hex_digit((unsigned char)hex[i]), lo = sc_hex_digit((unsigned char)hex[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}
