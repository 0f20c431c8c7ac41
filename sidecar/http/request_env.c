#include "request_env.h"

#include <time.h>

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
