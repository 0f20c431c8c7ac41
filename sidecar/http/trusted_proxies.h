/*
 * trusted_proxies: whose forwarding headers are believed, and what is read from them.
 *
 * Behind API Gateway the sidecar's peer is the gateway, not the client. The gateway says who the
 * client was (X-Forwarded-For, to which it appends the caller's address), how it was reached
 * (X-Forwarded-Proto) and which of its requests this is (X-Amzn-Trace-Id, and its request id in
 * a header the integration maps). Anyone else can send the same headers, so they are believed
 * only from a trusted peer: an address in `cidrs`, or with `client_cert: true` a connection whose
 * TLS handshake required a client certificate the listener verified (tls.client_ca_file and its
 * pins; conn_guard.h remembers it per connection).
 *
 *     trusted_proxies:
 *       cidrs: [10.0.0.0/16, "fd00::/8"]
 *       client_cert: true
 *     request_id_header: x-amzn-requestid
 *
 * The client's address is the right-most X-Forwarded-For entry that is not itself in `cidrs`:
 * every proxy appends the address it saw, so entries left of the first trusted hop's are
 * whatever the client chose to send and prove nothing. (The left-most entry is what a client
 * forging the header controls.)
 */
#ifndef SC_TRUSTED_PROXIES_H
#define SC_TRUSTED_PROXIES_H

#include <h2o.h>

#include "cidr.h"
#include "conf.h"

#define SC_TRUSTED_PROXIES_MAX_CIDRS 1024

typedef struct sc_trusted_proxies {
    sc_cidr_t *cidrs;
    size_t num_cidrs;
    int client_cert;         /* connections that presented a certificate the listener verified */
    char *request_id_header; /* the gateway's request id (lower case), read from trusted peers; NULL: none */
} sc_trusted_proxies_t;

/* What a trusted peer says about a request. Values point into the request's headers or pool. */
typedef struct sc_forwarded {
    h2o_iovec_t chain;      /* X-Forwarded-For as received (copies joined by ", "), without the peer */
    h2o_iovec_t proto;      /* X-Forwarded-Proto when it is one copy of http or https */
    h2o_iovec_t client;     /* the client's address in chain (see above); empty: none usable */
    h2o_iovec_t trace_id;   /* X-Amzn-Trace-Id (the last copy) */
    h2o_iovec_t request_id; /* request_id_header (the last copy) */
} sc_forwarded_t;

/**
 * Reads the host file's `trusted_proxies` and `request_id_header` (both optional) from the
 * root mapping. Returns 0, or -1 with "file:line: key: reason" in the reader.
 */
int sc_trusted_proxies_read(sc_conf_reader_t *r, const sc_yaml_node_t *root, sc_trusted_proxies_t *out);

void sc_trusted_proxies_clear(sc_trusted_proxies_t *tp);

/**
 * Whether a peer's forwarding headers are believed. `peer` may be NULL (no address);
 * `client_cert_verified`: the connection's handshake required a verified client certificate.
 */
int sc_trusted_proxies_trust(const sc_trusted_proxies_t *tp, const struct sockaddr *peer, int client_cert_verified);

/**
 * Reads what a trusted peer says from the request headers (call before they are edited for the
 * backend). Allocates in `pool` only to join several X-Forwarded-For copies.
 */
void sc_trusted_proxies_read_headers(const sc_trusted_proxies_t *tp, h2o_mem_pool_t *pool, const h2o_headers_t *headers,
                                     sc_forwarded_t *out);

/**
 * The client's address in an X-Forwarded-For chain (see above): the address part of the
 * right-most entry not in `cidrs` (the left-most entry when all are), without brackets or port;
 * empty when that entry is not an IP address.
 */
h2o_iovec_t sc_trusted_proxies_xff_client(const sc_trusted_proxies_t *tp, h2o_iovec_t chain);

/**
 * The X-Forwarded-For the backend receives from a trusted peer: "chain, peer" (or the peer
 * alone when the chain is empty). Allocates in `pool`.
 */
h2o_iovec_t sc_trusted_proxies_xff_append(h2o_mem_pool_t *pool, h2o_iovec_t chain, h2o_iovec_t peer);

#endif
