/*
 * Cost of one local rate-limit decision (not a test: nothing is asserted), with 1 and 2 threads,
 * on distinct keys (each thread its own 1000 tenants) and on one hot key shared by all threads.
 * ROUNDS rounds of N decisions per thread; for the median round, nanoseconds per decision per
 * thread of wall clock (CLOCK_MONOTONIC, from a common start: equal across thread counts when the
 * threads never wait for each other and each has a core) and of the threads' own CPU time
 * (CLOCK_THREAD_CPUTIME_ID: steadier on a shared machine, where the wall clock also counts time
 * the scheduler gave to others), and the threads' voluntary context switches per 1000 decisions
 * (getrusage RUSAGE_THREAD: a thread sleeping on a lock another holds; near 0 when they never wait
 * for each other, whatever the machine's load). Time passed to the limiter advances 1 us per call, so most
 * calls are admitted.
 *
 *     cc -O2 -pthread -Isidecar/ratelimit -Isidecar/util tests/bench/ratelimit_local_bench.c sidecar/ratelimit/ratelimit_local.c \
 *        sidecar/ratelimit/gcra.c sidecar/util/hash.c -lcrypto -o build/ratelimit_local_bench
 *     ./build/ratelimit_local_bench [N]
 *
 * The limiter as it was before issue 11 (one process-wide mutex), for comparison:
 *
 *     mkdir -p /tmp/rl-old && git show 1b5e4fa:sidecar/ratelimit_local.c >/tmp/rl-old/ratelimit_local.c &&
 *     git show 1b5e4fa:sidecar/ratelimit_local.h >/tmp/rl-old/ratelimit_local.h &&
 *     cc -O2 -pthread -DOLD_API -I/tmp/rl-old -Isidecar/ratelimit -Isidecar/util tests/bench/ratelimit_local_bench.c \
 *        /tmp/rl-old/ratelimit_local.c sidecar/ratelimit/gcra.c sidecar/util/hash.c -lcrypto -o build/ratelimit_local_bench_old
 */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "ratelimit_local.h"

#ifdef OLD_API /* the names before the rename */
#define sc_ratelimit_local_t sc_local_limits_t
#define sc_ratelimit_local_create sc_local_limits_create
#define sc_ratelimit_local_destroy sc_local_limits_destroy
#define sc_ratelimit_local_decide sc_local_limits_decide
#endif

#define ROUNDS 5
#define KEYS 1000
#define MAX_THREADS 2

typedef struct run {
    sc_ratelimit_local_t *table;
    pthread_barrier_t *start;
    int thread, hot;
    long n;
    double cpu_ns; /* this thread's CPU time for its n decisions */
    long sleeps;   /* its voluntary context switches meanwhile */
    char keys[KEYS][16];
} run_t;

static double clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static long voluntary_switches(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return ru.ru_nvcsw;
}

static void *decide_many(void *arg)
{
    run_t *r = arg;
    sc_gcra_limit_t limit = {1000000, 1000000};
    unsigned long admitted = 0;
    pthread_barrier_wait(r->start);
    double t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    long s0 = voluntary_switches();
    for (long i = 0; i != r->n; ++i) {
        const char *key = r->hot ? "acme" : r->keys[i % KEYS];
        admitted +=
            sc_ratelimit_local_decide(r->table, key, strlen(key), limit, 0, 1000000000ULL + (uint64_t)i * 1000, 1).gcra.allowed;
    }
    r->cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
    r->sleeps = voluntary_switches() - s0;
    return (void *)admitted;
}

typedef struct timing {
    double wall, cpu; /* ns per decision per thread */
    double sleeps;    /* voluntary context switches per 1000 decisions, all threads */
} timing_t;

/* One round: `threads` threads of n decisions each. */
static timing_t round_ns(int threads, int hot, long n)
{
    static run_t runs[MAX_THREADS];
    pthread_t ids[MAX_THREADS];
    pthread_barrier_t start;
    sc_ratelimit_local_t *table = sc_ratelimit_local_create(100000); /* what server.c creates */
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    for (int i = 0; i != threads; ++i) {
        runs[i] = (run_t){table, &start, i, hot, n, 0, 0, {{0}}};
        for (int k = 0; k != KEYS; ++k)
            snprintf(runs[i].keys[k], sizeof(runs[i].keys[k]), "t%d-%d", i, k);
        pthread_create(&ids[i], NULL, decide_many, &runs[i]);
    }
    pthread_barrier_wait(&start);
    double t0 = clock_ns(CLOCK_MONOTONIC), cpu = 0, sleeps = 0;
    for (int i = 0; i != threads; ++i) {
        pthread_join(ids[i], NULL);
        cpu += runs[i].cpu_ns;
        sleeps += (double)runs[i].sleeps;
    }
    timing_t per = {(clock_ns(CLOCK_MONOTONIC) - t0) / (double)n, cpu / threads / (double)n, sleeps * 1000 / threads / (double)n};
    pthread_barrier_destroy(&start);
    sc_ratelimit_local_destroy(table);
    return per;
}

static int compare(const void *a, const void *b)
{
    double x = ((const timing_t *)a)->wall, y = ((const timing_t *)b)->wall;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 2000000;
    printf("%-8s %-8s %10s %10s %10s   (median round of %d, %ld decisions per thread)\n", "threads", "keys", "wall ns", "cpu ns",
           "sleeps/1k", ROUNDS, n);
    for (int hot = 0; hot != 2; ++hot) {
        for (int threads = 1; threads <= MAX_THREADS; ++threads) {
            timing_t t[ROUNDS];
            for (int i = 0; i != ROUNDS; ++i)
                t[i] = round_ns(threads, hot, n);
            qsort(t, ROUNDS, sizeof(t[0]), compare);
            timing_t m = t[ROUNDS / 2];
            printf("%-8d %-8s %10.1f %10.1f %10.2f   (wall min %.1f, max %.1f)\n", threads, hot ? "hot" : "distinct", m.wall, m.cpu,
                   m.sleeps, t[0].wall, t[ROUNDS - 1].wall);
        }
    }
    return 0;
}
