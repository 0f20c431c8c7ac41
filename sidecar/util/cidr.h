/*
 * cidr: address ranges, for deciding whose forwarding headers to believe (trusted_proxies.h).
 * Parsed once, when the configuration is loaded; matched per request without allocation, locks
 * or name lookups.
 *
 * Every address is kept in its IPv6 form, an IPv4 address as IPv4-mapped (::ffff:a.b.c.d), so
 * that one comparison serves both families: a peer seen as ::ffff:10.0.0.7 (a dual-stack
 * listener) matches 10.0.0.0/8 exactly as 10.0.0.7 does, and ::ffff:10.0.0.0/104 matches it too.
 */
#ifndef SC_CIDR_H
#define SC_CIDR_H

#include <stddef.h>
#include <sys/socket.h>

typedef struct sc_ip {
    unsigned char b[16]; /* network order; IPv4 as ::ffff:a.b.c.d */
} sc_ip_t;

typedef struct sc_cidr {
    sc_ip_t net;     /* no bit set past the prefix */
    unsigned prefix; /* of the IPv6 form: 96 + n for an IPv4 /n */
} sc_cidr_t;

/**
 * A numeric IPv4 (dotted quad) or IPv6 address, `len` bytes, no port, brackets or zone.
 * Returns 0, or -1 when it is not one.
 */
int sc_cidr_ip_parse(const char *text, size_t len, sc_ip_t *out);

/**
 * The address of an AF_INET or AF_INET6 socket address. Returns 0, or -1 for another family.
 */
int sc_cidr_ip_from_sockaddr(const struct sockaddr *sa, sc_ip_t *out);

/**
 * "ADDRESS/PREFIX" or a lone address (/32, /128). Refuses bits set past the prefix (a typo as
 * often as not: 10.0.0.1/16 is written for 10.0.0.0/16 or for 10.0.0.1/32) and a /0 (which
 * would let anyone set the forwarding headers). Returns 0, or -1 with a reason in err.
 */
int sc_cidr_parse(const char *text, sc_cidr_t *out, char *err, size_t errsize);

/**
 * 1 when `ip` is in one of the `n` ranges.
 */
int sc_cidr_list_contains(const sc_cidr_t *list, size_t n, const sc_ip_t *ip);

#endif
