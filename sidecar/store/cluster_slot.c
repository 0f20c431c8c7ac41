#include "cluster_slot.h"

#include <stdlib.h>
#include <string.h>

uint16_t sc_cluster_slot_crc16(const char *buf, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i != len; ++i) {
        crc ^= (uint16_t)((uint16_t)(unsigned char)buf[i] << 8);
        for (int bit = 0; bit != 8; ++bit)
            crc = (crc & 0x8000) != 0 ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

unsigned sc_cluster_slot_of(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open != NULL) {
        size_t start = (size_t)(open - key) + 1;
        const char *close = memchr(key + start, '}', len - start);
        /* "{}" hashes the whole key, as Redis does */
        if (close != NULL && close != key + start)
            return sc_cluster_slot_crc16(key + start, (size_t)(close - (key + start))) & (SC_CLUSTER_SLOTS - 1);
    }
    return sc_cluster_slot_crc16(key, len) & (SC_CLUSTER_SLOTS - 1);
}

/* Reads a decimal number of at most `max` from [*p, end); moves *p past it. */
static int read_number(const char **p, const char *end, unsigned long max, unsigned long *out)
{
    unsigned long v = 0;
    const char *s = *p;
    if (s == end || *s < '0' || *s > '9')
        return -1;
    for (; s != end && *s >= '0' && *s <= '9'; ++s) {
        v = v * 10 + (unsigned long)(*s - '0');
        if (v > max)
            return -1;
    }
    *p = s;
    *out = v;
    return 0;
}

int sc_cluster_slot_parse_redirect(const char *text, size_t len, sc_cluster_redirect_t *out)
{
    const char *p = text, *end = text + len;
    unsigned long slot, port;
    memset(out, 0, sizeof(*out));
    if (len > 6 && memcmp(text, "MOVED ", 6) == 0)
        p += 6;
    else if (len > 4 && memcmp(text, "ASK ", 4) == 0)
        p += 4;
    else
        return -1;
    if (read_number(&p, end, SC_CLUSTER_SLOTS - 1, &slot) != 0 || p == end || *p++ != ' ')
        return -1;
    /* the port follows the last ':' (an IPv6 address has colons of its own) */
    const char *colon = NULL;
    for (const char *s = p; s != end; ++s)
        if (*s == ':')
            colon = s;
    if (colon == NULL || (size_t)(colon - p) >= sizeof(out->host))
        return -1;
    const char *q = colon + 1;
    if (read_number(&q, end, 65535, &port) != 0 || q != end || port == 0)
        return -1;
    memcpy(out->host, p, (size_t)(colon - p));
    out->host[colon - p] = '\0';
    out->kind = text[0] == 'M' ? SC_CLUSTER_REDIRECT_MOVED : SC_CLUSTER_REDIRECT_ASK;
    out->slot = (unsigned)slot;
    out->port = (uint16_t)port;
    return 0;
}
