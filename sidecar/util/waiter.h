/*
 * waiter: the link between a suspended request and the asynchronous operation it waits for.
 *
 * A request's memory (its pool) is freed when the request ends, which can happen before a Redis
 * reply arrives (the client went away, the server is shutting down). The callback therefore
 * never holds the request itself: it holds a heap-allocated waiter, and the request's pool holds
 * a guard that detaches the waiter when the pool is cleared. Whichever ends first, nothing is
 * used after it is freed.
 */
#ifndef SC_WAITER_H
#define SC_WAITER_H

#include <h2o/memory.h>

typedef struct sc_waiter sc_waiter_t;

/**
 * Creates a waiter for `data`, which must live in `pool`. Returns NULL when out of memory.
 */
sc_waiter_t *sc_waiter_new(h2o_mem_pool_t *pool, void *data);

/**
 * Called once, when the operation completes (successfully or not). Frees the waiter and returns
 * the data, or NULL when the pool has been cleared meanwhile (the request is gone: drop the
 * result).
 */
void *sc_waiter_take(sc_waiter_t *waiter);

#endif
