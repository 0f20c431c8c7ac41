#include "request_id.h"

#include <openssl/rand.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* xoshiro256** (Blackman & Vigna): fast, 256-bit state, no observable correlation for our use. */
static __thread uint64_t state[4];
static __thread int seeded;

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next(void)
{
    uint64_t result = rotl(state[1] * 5, 7) * 9, t = state[1] << 17;
    state[2] ^= state[0];
    state[3] ^= state[1];
    state[1] ^= state[2];
    state[0] ^= state[3];
    state[2] ^= t;
    state[3] = rotl(state[3], 45);
    return result;
}

static void seed(void)
{
    if (RAND_bytes((unsigned char *)state, sizeof(state)) != 1) {
        /* Uniqueness is all that matters here; fall back to time, pid and address entropy. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        state[0] = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32);
        state[1] = (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL;
        state[2] = (uint64_t)(uintptr_t)&seeded;
        state[3] = 0x2545f4914f6cdd1dULL;
    }
    seeded = 1;
}

void sc_request_id_generate(char buf[SC_REQUEST_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    if (!seeded)
        seed();
    for (int half = 0; half != 2; ++half) {
        uint64_t v = next();
        for (int i = 0; i != 16; ++i, v >>= 4)
            buf[half * 16 + i] = hex[v & 15];
    }
    buf[SC_REQUEST_ID_LEN] = '\0';
}
