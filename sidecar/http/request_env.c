#include "request_env.h"

#include <stdint.h>
#include <time.h>

/* The slot of every context's storage that holds its env: allocated by the first bind (main
 * thread, before any worker runs; the workers only read it). */
static size_t env_key = SIZE_MAX;

void sc_request_env_bind(h2o_context_t *ctx, sc_request_env_t *env)
{
    *h2o_context_get_storage(ctx, &env_key, NULL) = env;
}

sc_request_env_t *sc_request_env_of(h2o_context_t *ctx)
{
    return ctx->storage.entries[env_key].data;
}

uint64_t sc_request_env_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

/* inflight is written by its worker only, and read by the /metrics scrape on any thread */
void sc_request_env_started(const sc_request_env_t *env)
{
    __atomic_store_n(env->inflight, *env->inflight + 1, __ATOMIC_RELAXED);
}

void sc_request_env_finished(const sc_request_env_t *env)
{
    __atomic_store_n(env->inflight, *env->inflight - 1, __ATOMIC_RELAXED);
}
