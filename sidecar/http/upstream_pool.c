#include "upstream_pool.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

/* A backend connection's receive buffer. h2o reads a readable socket until it is empty, so what
 * one read can bring is what the kernel buffered: bounded here (the kernel doubles it) rather
 * than by the autotuned maximum (megabytes), the read-ahead of a response stays a fixed window
 * whatever the backend's speed (upstream.h: SC_UPSTREAM_WINDOW). */
#define RECEIVE_BUFFER (128 * 1024)

struct sc_upstream_pool {
    h2o_loop_t *loop;
    struct sockaddr_in addr;
    char authority[sizeof("255.255.255.255:65535")];
    h2o_timeout_t io_timeout;
    h2o_timeout_t idle_timeout;
    int keepalive; /* upstream_keepalive_ms != 0 */
    size_t max_idle, num_idle;
    h2o_linklist_t idle; /* most recently given back first */
    uint64_t connects;
};

/* config.c resolves upstreams at load into "http://IPv4:PORT". */
static int parse_upstream(const char *url, struct sockaddr_in *addr, char *authority, size_t cap)
{
    const char *hostport = strncmp(url, "http://", 7) == 0 ? url + 7 : NULL;
    const char *colon = hostport != NULL ? strrchr(hostport, ':') : NULL;
    char host[INET_ADDRSTRLEN];
    if (colon == NULL || (size_t)(colon - hostport) >= sizeof(host) || strlen(hostport) >= cap)
        return -1;
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    memset(addr, 0, sizeof(*addr));
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)port);
    if (*end != '\0' || port == 0 || port > 65535 || inet_pton(AF_INET, host, &addr->sin_addr) != 1)
        return -1;
    strcpy(authority, hostport);
    return 0;
}

sc_upstream_pool_t *sc_upstream_pool_create(h2o_loop_t *loop, const sc_service_t *service)
{
    sc_upstream_pool_t *pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        return NULL;
    if (parse_upstream(service->upstream, &pool->addr, pool->authority, sizeof(pool->authority)) != 0) {
        free(pool);
        return NULL;
    }
    pool->loop = loop;
    pool->keepalive = service->upstream_keepalive_ms != 0;
    pool->max_idle = service->upstream_max_idle;
    h2o_linklist_init_anchor(&pool->idle);
    h2o_timeout_init(loop, &pool->io_timeout, service->timeout_ms);
    h2o_timeout_init(loop, &pool->idle_timeout, service->upstream_keepalive_ms);
    return pool;
}

static void close_conn(sc_upstream_conn_t *conn)
{
    if (h2o_linklist_is_linked(&conn->idle_link)) {
        h2o_linklist_unlink(&conn->idle_link);
        --conn->pool->num_idle;
    }
    if (h2o_timeout_is_linked(&conn->idle_timeout))
        h2o_timeout_unlink(&conn->idle_timeout);
    h2o_socket_close(conn->sock);
    free(conn);
}

void sc_upstream_pool_destroy(sc_upstream_pool_t *pool)
{
    if (pool == NULL)
        return;
    while (!h2o_linklist_is_empty(&pool->idle))
        close_conn(H2O_STRUCT_FROM_MEMBER(sc_upstream_conn_t, idle_link, pool->idle.next));
    h2o_timeout_dispose(pool->loop, &pool->io_timeout);
    h2o_timeout_dispose(pool->loop, &pool->idle_timeout);
    free(pool);
}

/* An idle connection that becomes readable was closed by the backend (or it sent what nobody
 * asked for): either way it cannot carry a request. */
static void on_idle_read(h2o_socket_t *sock, const char *err)
{
    close_conn(sock->data);
}

static void on_idle_timeout(h2o_timeout_entry_t *entry)
{
    close_conn(H2O_STRUCT_FROM_MEMBER(sc_upstream_conn_t, idle_timeout, entry));
}

sc_upstream_conn_t *sc_upstream_pool_take(sc_upstream_pool_t *pool)
{
    if (h2o_linklist_is_empty(&pool->idle))
        return NULL;
    sc_upstream_conn_t *conn = H2O_STRUCT_FROM_MEMBER(sc_upstream_conn_t, idle_link, pool->idle.next);
    h2o_linklist_unlink(&conn->idle_link);
    --pool->num_idle;
    h2o_timeout_unlink(&conn->idle_timeout);
    conn->reused = 1;
    return conn;
}

sc_upstream_conn_t *sc_upstream_pool_connect(sc_upstream_pool_t *pool, h2o_socket_cb on_connect, void *data)
{
    sc_upstream_conn_t *conn = calloc(1, sizeof(*conn));
    if (conn == NULL)
        return NULL;
    if ((conn->sock = h2o_socket_connect(pool->loop, (struct sockaddr *)&pool->addr, sizeof(pool->addr), on_connect)) == NULL) {
        free(conn);
        return NULL;
    }
    /* the request goes out in one writev; without this, a small write after another waits for
     * the delayed ACK of the first */
    int on = 1, rcvbuf = RECEIVE_BUFFER;
    setsockopt(h2o_socket_get_fd(conn->sock), IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    setsockopt(h2o_socket_get_fd(conn->sock), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    conn->sock->data = data;
    conn->pool = pool;
    conn->idle_timeout.cb = on_idle_timeout;
    ++pool->connects;
    return conn;
}

void sc_upstream_pool_give_back(sc_upstream_conn_t *conn)
{
    sc_upstream_pool_t *pool = conn->pool;
    if (!pool->keepalive || pool->num_idle >= pool->max_idle || conn->sock->input->size != 0) {
        close_conn(conn);
        return;
    }
    conn->sock->data = conn;
    h2o_socket_read_start(conn->sock, on_idle_read); /* already reading: only the callback changes */
    h2o_linklist_insert(pool->idle.next, &conn->idle_link);
    ++pool->num_idle;
    h2o_timeout_link(pool->loop, &pool->idle_timeout, &conn->idle_timeout);
}

void sc_upstream_pool_close(sc_upstream_conn_t *conn)
{
    close_conn(conn);
}

h2o_iovec_t sc_upstream_pool_authority(const sc_upstream_pool_t *pool)
{
    return h2o_iovec_init(pool->authority, strlen(pool->authority));
}

h2o_timeout_t *sc_upstream_pool_io_timeout(sc_upstream_pool_t *pool)
{
    return &pool->io_timeout;
}

uint64_t sc_upstream_pool_connects(const sc_upstream_pool_t *pool)
{
    return pool->connects;
}

size_t sc_upstream_pool_idle(const sc_upstream_pool_t *pool)
{
    return pool->num_idle;
}
