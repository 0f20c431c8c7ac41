#include "redis_loop.h"

#include <stdlib.h>

typedef struct adapter {
    redisAsyncContext *ac;
    h2o_socket_t *sock;
    int reading;
    int want_write;    /* hiredis has data to write */
    int write_pending; /* h2o_socket_notify_write registered (it cannot be cancelled) */
} adapter_t;

static void on_readable(h2o_socket_t *sock, const char *err)
{
    adapter_t *a = sock->data;
    (void)err; /* hiredis finds the error itself when it reads */
    redisAsyncHandleRead(a->ac);
}

static void on_writable(h2o_socket_t *sock, const char *err)
{
    adapter_t *a = sock->data;
    (void)err;
    a->write_pending = 0;
    if (!a->want_write)
        return; /* hiredis withdrew its interest meanwhile */
    a->want_write = 0;
    redisAsyncHandleWrite(a->ac); /* re-adds write interest if it could not write everything */
}

static void add_read(void *p)
{
    adapter_t *a = p;
    if (!a->reading) {
        a->reading = 1;
        h2o_socket_read_start(a->sock, on_readable);
    }
}

static void del_read(void *p)
{
    adapter_t *a = p;
    if (a->reading) {
        a->reading = 0;
        h2o_socket_read_stop(a->sock);
    }
}

static void add_write(void *p)
{
    adapter_t *a = p;
    a->want_write = 1;
    if (!a->write_pending) {
        a->write_pending = 1;
        h2o_socket_notify_write(a->sock, on_writable); /* asserts if one is already pending */
    }
}

static void del_write(void *p)
{
    adapter_t *a = p;
    a->want_write = 0;
}

static void cleanup(void *p)
{
    adapter_t *a = p;
    if (a->reading)
        h2o_socket_read_stop(a->sock);
    h2o_socket_close(a->sock); /* closes the descriptor */
    a->ac->c.fd = -1;          /* ...so that hiredis does not close it a second time */
    a->ac->ev.data = NULL;
    free(a);
}

int sc_redis_loop_attach(redisAsyncContext *ac, h2o_evloop_t *loop)
{
    adapter_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return -1;
    a->ac = ac;
    a->sock = h2o_evloop_socket_create(loop, ac->c.fd, H2O_SOCKET_FLAG_DONT_READ);
    a->sock->data = a;
    ac->ev.data = a;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    return 0;
}
