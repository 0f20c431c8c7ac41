/*
 * upstream_pool: one worker's connections to one service's backend. Connections are made on the
 * worker's event loop and stay attached to it for their whole life: an idle connection keeps
 * being watched for reading (no epoll change, no fcntl when it is taken again), so a backend
 * closing it, or sending anything unasked, is noticed at once and the connection dropped.
 *
 * At most `upstream_max_idle` connections wait, most recently used first, each for at most
 * `upstream_keepalive_ms` (keep it below the backend's own idle timeout). Everything here runs on
 * the worker's thread.
 */
#ifndef SC_UPSTREAM_POOL_H
#define SC_UPSTREAM_POOL_H

#include <h2o.h>

#include "config.h"

typedef struct sc_upstream_pool sc_upstream_pool_t;

/* One connection: the exchange using it owns it until it gives it back or closes it. */
typedef struct sc_upstream_conn {
    h2o_socket_t *sock;
    sc_upstream_pool_t *pool;
    h2o_linklist_t idle_link;
    h2o_timeout_entry_t idle_timeout;
    int reused; /* taken from the idle list (it may have been closed by the backend meanwhile) */
} sc_upstream_conn_t;

/**
 * The pool for `service` (its upstream address and timeouts, which do not reload) on `loop`.
 * NULL when out of memory or the upstream is not a numeric http://IPv4:PORT.
 */
sc_upstream_pool_t *sc_upstream_pool_create(h2o_loop_t *loop, const sc_service_t *service);

/**
 * Closes the idle connections and frees the pool. Connections in use must have been closed or
 * given back before (the worker drains first).
 */
void sc_upstream_pool_destroy(sc_upstream_pool_t *pool);

/**
 * An idle connection (most recently used first), or NULL when none waits.
 */
sc_upstream_conn_t *sc_upstream_pool_take(sc_upstream_pool_t *pool);

/**
 * Starts a new connection; `on_connect` is called with the socket (sock->data = data) once
 * connected or failed. NULL when it failed at once (no descriptor, refused).
 */
sc_upstream_conn_t *sc_upstream_pool_connect(sc_upstream_pool_t *pool, h2o_socket_cb on_connect, void *data);

/**
 * Puts a connection whose exchange is complete (nothing left unread) on the idle list, or closes
 * it when the list is full or keep-alive is off.
 */
void sc_upstream_pool_give_back(sc_upstream_conn_t *conn);

/**
 * Closes a connection in use.
 */
void sc_upstream_pool_close(sc_upstream_conn_t *conn);

/**
 * The backend's authority ("127.0.0.1:5000"), for the Host header.
 */
h2o_iovec_t sc_upstream_pool_authority(const sc_upstream_pool_t *pool);

/**
 * The queue of the service's I/O timeout (timeout_s): connect, first byte, and each read.
 */
h2o_timeout_t *sc_upstream_pool_io_timeout(sc_upstream_pool_t *pool);

/**
 * Connections made, and idle ones waiting: for tests and stats.
 */
uint64_t sc_upstream_pool_connects(const sc_upstream_pool_t *pool);
size_t sc_upstream_pool_idle(const sc_upstream_pool_t *pool);

#endif
