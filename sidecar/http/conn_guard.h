/*
 * conn_guard: what the sidecar knows about a client connection beyond HTTP: the count of open
 * connections against max_connections (shared by every worker: atomic counters), and whether its
 * TLS handshake required a verified client certificate (trusted_proxies.h). The per-connection
 * state goes with the socket (its on_close hook), so it lives exactly as long as the connection.
 */
#ifndef SC_CONN_GUARD_H
#define SC_CONN_GUARD_H

#include <h2o.h>
#include <stdint.h>

typedef struct sc_conn_guard sc_conn_guard_t;
typedef struct sc_conn sc_conn_t;

sc_conn_guard_t *sc_conn_guard_create(uint64_t max_connections);
void sc_conn_guard_free(sc_conn_guard_t *guard);

/**
 * 1 while the number of guarded connections is below max_connections (thread-safe).
 */
int sc_conn_guard_admit(sc_conn_guard_t *guard);

/**
 * Guards an accepted socket (counted until it closes); call before handing it to the HTTP
 * server. Returns -1 when out of memory (the caller closes the socket).
 */
int sc_conn_guard_attach(sc_conn_guard_t *guard, h2o_socket_t *sock);

/**
 * Remembers that the socket's TLS handshake requires a verified client certificate (the
 * listener's context when it was accepted: a reload that adds or removes client_ca_file does not
 * change what an open connection proved). Call after sc_conn_guard_attach.
 */
void sc_conn_guard_set_client_cert_required(h2o_socket_t *sock);

/**
 * 1 when requests on this connection come from the holder of a verified client certificate.
 */
int sc_conn_guard_client_cert_verified(const sc_conn_t *conn);

/**
 * The guard of the connection carrying req, or NULL (admin connections).
 */
sc_conn_t *sc_conn_guard_of_req(h2o_req_t *req);

/**
 * Connections open now, every worker's (thread-safe read).
 */
uint64_t sc_conn_guard_connections(sc_conn_guard_t *guard);

#endif
