/*
 * cluster_slot: the Redis Cluster arithmetic shared by the sidecar and sidecarctl, with no I/O:
 * which of the 16384 hash slots a key belongs to (CRC16-XMODEM of its hash tag, as the cluster
 * specification says), and what a MOVED or ASK error reply points to.
 */
#ifndef SC_CLUSTER_SLOT_H
#define SC_CLUSTER_SLOT_H

#include <stddef.h>
#include <stdint.h>

#define SC_CLUSTER_SLOTS 16384
#define SC_CLUSTER_HOST_MAX 64 /* a numeric IPv4 or IPv6 address */

/**
 * CRC16 (XMODEM: polynomial 0x1021, initial value 0), the cluster's key hash.
 */
uint16_t sc_cluster_slot_crc16(const char *buf, size_t len);

/**
 * The slot of a key: the CRC16 of its hash tag (what is between the first '{' and the next '}',
 * when that is not empty), else of the whole key, modulo 16384.
 */
unsigned sc_cluster_slot_of(const char *key, size_t len);

typedef enum { SC_CLUSTER_REDIRECT_NONE, SC_CLUSTER_REDIRECT_MOVED, SC_CLUSTER_REDIRECT_ASK } sc_cluster_redirect_kind_t;

typedef struct sc_cluster_redirect {
    sc_cluster_redirect_kind_t kind;
    unsigned slot;
    char host[SC_CLUSTER_HOST_MAX]; /* "" when Redis left it out ("MOVED 3999 :6381"): the node that answered */
    uint16_t port;
} sc_cluster_redirect_t;

/**
 * Reads "MOVED SLOT HOST:PORT" or "ASK SLOT HOST:PORT" (an error reply's text). Returns 0 with
 * the redirect, or -1 (kind NONE) for any other error or a malformed one.
 */
int sc_cluster_slot_parse_redirect(const char *text, size_t len, sc_cluster_redirect_t *out);

#endif
