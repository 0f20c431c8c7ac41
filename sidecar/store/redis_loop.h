/*
 * redis_loop: runs a hiredis asynchronous context on an h2o event loop, with h2o's public
 * socket API only. hiredis reads and writes the descriptor itself; h2o only tells it when the
 * descriptor is readable or writable (H2O_SOCKET_FLAG_DONT_READ, level-triggered epoll).
 */
#ifndef SC_REDIS_LOOP_H
#define SC_REDIS_LOOP_H

#include <h2o.h>
#include <hiredis/async.h>

/**
 * Attaches `ac` to `loop`. From then on the adapter owns the descriptor: it is closed by the
 * adapter when hiredis frees the context, never by hiredis. Returns 0, or -1 when out of memory.
 */
int sc_redis_loop_attach(redisAsyncContext *ac, h2o_evloop_t *loop);

#endif
