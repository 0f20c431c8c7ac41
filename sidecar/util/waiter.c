#include "waiter.h"

#include <stdlib.h>

struct sc_waiter {
    void *data;          /* NULL once the pool is cleared */
    struct guard *guard; /* NULL once the pool is cleared */
};

/* Lives in the request pool; its dispose callback runs when the pool is cleared. */
struct guard {
    sc_waiter_t *waiter; /* NULL once the waiter is taken */
};

static void on_guard_dispose(void *p)
{
    struct guard *guard = p;
    if (guard->waiter != NULL) {
        guard->waiter->data = NULL;
        guard->waiter->guard = NULL;
    }
}

sc_waiter_t *sc_waiter_new(h2o_mem_pool_t *pool, void *data)
{
    sc_waiter_t *waiter = malloc(sizeof(*waiter));
    if (waiter == NULL)
        return NULL;
    struct guard *guard = h2o_mem_alloc_shared(pool, sizeof(*guard), on_guard_dispose);
    guard->waiter = waiter;
    waiter->data = data;
    waiter->guard = guard;
    return waiter;
}

void *sc_waiter_take(sc_waiter_t *waiter)
{
    void *data = waiter->data;
    if (waiter->guard != NULL)
        waiter->guard->waiter = NULL;
    free(waiter);
    return data;
}
