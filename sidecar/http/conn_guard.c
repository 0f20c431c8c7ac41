#include "conn_guard.h"

#include <stdlib.h>

struct sc_conn_guard {
    uint64_t max_connections;
    uint64_t connections; /* atomic */
};

struct sc_conn {
    sc_conn_guard_t *guard;
    int client_cert; /* the handshake required a verified client certificate */
};

static void on_conn_close(void *data)
{
    sc_conn_t *c = data;
    __atomic_sub_fetch(&c->guard->connections, 1, __ATOMIC_RELAXED);
    free(c);
}

sc_conn_guard_t *sc_conn_guard_create(uint64_t max_connections)
{
    sc_conn_guard_t *g = calloc(1, sizeof(*g));
    if (g != NULL)
        g->max_connections = max_connections;
    return g;
}

void sc_conn_guard_free(sc_conn_guard_t *guard)
{
    free(guard);
}

int sc_conn_guard_admit(sc_conn_guard_t *g)
{
    return __atomic_load_n(&g->connections, __ATOMIC_RELAXED) < g->max_connections;
}

int sc_conn_guard_attach(sc_conn_guard_t *g, h2o_socket_t *sock)
{
    sc_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -1;
    c->guard = g;
    __atomic_add_fetch(&g->connections, 1, __ATOMIC_RELAXED);
    sock->on_close.cb = on_conn_close;
    sock->on_close.data = c;
    return 0;
}

sc_conn_t *sc_conn_guard_of_req(h2o_req_t *req)
{
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    return sock != NULL && sock->on_close.cb == on_conn_close ? sock->on_close.data : NULL;
}

void sc_conn_guard_set_client_cert_required(h2o_socket_t *sock)
{
    if (sock->on_close.cb == on_conn_close)
        ((sc_conn_t *)sock->on_close.data)->client_cert = 1;
}

int sc_conn_guard_client_cert_verified(const sc_conn_t *c)
{
    return c != NULL && c->client_cert;
}

uint64_t sc_conn_guard_connections(sc_conn_guard_t *g)
{
    return __atomic_load_n(&g->connections, __ATOMIC_RELAXED);
}
