#include "cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const unsigned char v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int sc_cidr_ip_parse(const char *text, size_t len, sc_ip_t *out)
{
    char buf[INET6_ADDRSTRLEN];
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, text, len); /* inet_pton wants a NUL-terminated string: copied on the stack */
    buf[len] = '\0';
    if (memchr(buf, ':', len) != NULL)
        return inet_pton(AF_INET6, buf, out->b) == 1 ? 0 : -1;
    memcpy(out->b, v4_mapped_prefix, sizeof(v4_mapped_prefix));
    return inet_pton(AF_INET, buf, out->b + 12) == 1 ? 0 : -1; /* glibc: dotted decimal only, no 010 or 10.1 */
}

int sc_cidr_ip_from_sockaddr(const struct sockaddr *sa, sc_ip_t *out)
{
    if (sa->sa_family == AF_INET) {
        memcpy(out->b, v4_mapped_prefix, sizeof(v4_mapped_prefix));
        memcpy(out->b + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(out->b, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return 0;
    }
    return -1;
}

/* The prefix length: 1 to 3 decimal digits, nothing else. */
static int parse_prefix(const char *s, unsigned max, unsigned *out)
{
    size_t n = strlen(s);
    unsigned v = 0;
    if (n == 0 || n > 3 || strspn(s, "0123456789") != n)
        return -1;
    for (size_t i = 0; i != n; ++i)
        v = v * 10 + (unsigned)(s[i] - '0');
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static int host_bits_set(const sc_ip_t *ip, unsigned prefix)
{
    for (unsigned bit = prefix; bit != 128; ++bit)
        if (ip->b[bit / 8] & (0x80u >> (bit % 8)))
            return 1;
    return 0;
}

int sc_cidr_parse(const char *text, sc_cidr_t *out, char *err, size_t errsize)
{
    const char *slash = strchr(text, '/');
    size_t addr_len = slash != NULL ? (size_t)(slash - text) : strlen(text);
    int v4 = memchr(text, ':', addr_len) == NULL;
    unsigned max = v4 ? 32 : 128, prefix = max;

    if (sc_cidr_ip_parse(text, addr_len, &out->net) != 0) {
        snprintf(err, errsize, "\"%s\" is not an IPv4 or IPv6 address or range (ADDRESS or ADDRESS/PREFIX)", text);
        return -1;
    }
    if (slash != NULL && parse_prefix(slash + 1, max, &prefix) != 0) {
        snprintf(err, errsize, "\"%s\": the prefix length must be 0 to %u", text, max);
        return -1;
    }
    if (prefix == 0) {
        snprintf(err, errsize, "\"%s\" would trust every address: anyone could set X-Forwarded-For", text);
        return -1;
    }
    out->prefix = v4 ? 96 + prefix : prefix;
    if (host_bits_set(&out->net, out->prefix)) {
        snprintf(err, errsize, "\"%s\" has bits set past the prefix /%u (write the network address, or a lone address)", text,
                 prefix);
        return -1;
    }
    return 0;
}

static int contains(const sc_cidr_t *c, const sc_ip_t *ip)
{
    unsigned whole = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(c->net.b, ip->b, whole) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff00u >> rest);
    return (ip->b[whole] & mask) == c->net.b[whole];
}

int sc_cidr_list_contains(const sc_cidr_t *list, size_t n, const sc_ip_t *ip)
{
    for (size_t i = 0; i != n; ++i)
        if (contains(&list[i], ip))
            return 1;
    return 0;
}
