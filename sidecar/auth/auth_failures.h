/*
 * auth_failures: what unauthenticated callers may cost. Two bounds, per worker thread (no lock):
 *
 *  - a failure budget: token buckets (GCRA) of failed authentications (a 401 for a credential
 *    that did not pass; missing credentials cost nothing and do not count) per client address
 *    and in total. While a bucket is empty, requests to credential routes are refused with 429
 *    before any credential is checked: no signature verified, no Redis lookup.
 *  - a memory of failed signatures: the SHA-256 of a token whose signature did not verify is
 *    remembered for a short while, so that sending it again costs a hash, not a verification.
 *
 * Both tables have a fixed size chosen at creation (direct-mapped, keyed by SipHash with a
 * random key): a client with many addresses can push entries out, never grow memory. Times are
 * nanoseconds of a monotonic clock, passed in (tests need no clock).
 */
#ifndef SC_AUTH_FAILURES_H
#define SC_AUTH_FAILURES_H

#include <stddef.h>
#include <stdint.h>

#include "gcra.h"

#define SC_AUTH_DIGEST_LEN 32

typedef struct sc_auth_failures sc_auth_failures_t;

/**
 * `clients` and `tokens`: table sizes; `token_ttl_ns`: how long a failed signature is remembered.
 */
sc_auth_failures_t *sc_auth_failures_create(sc_gcra_limit_t per_client, sc_gcra_limit_t total, size_t clients, size_t tokens,
                                            uint64_t token_ttl_ns);
void sc_auth_failures_free(sc_auth_failures_t *f);

/**
 * 0 while the client (and everyone) may still fail; else the number of seconds (>= 1) until a
 * failure would be allowed again.
 */
uint64_t sc_auth_failures_exhausted(sc_auth_failures_t *f, const char *client, size_t len, uint64_t now_ns);

/**
 * Counts one failed authentication of `client`.
 */
void sc_auth_failures_count(sc_auth_failures_t *f, const char *client, size_t len, uint64_t now_ns);

/**
 * Remembers a token (by its SHA-256) whose signature failed, and asks about one.
 */
void sc_auth_failures_remember_bad_token(sc_auth_failures_t *f, const unsigned char digest[SC_AUTH_DIGEST_LEN], uint64_t now_ns);
int sc_auth_failures_known_bad_token(sc_auth_failures_t *f, const unsigned char digest[SC_AUTH_DIGEST_LEN], uint64_t now_ns);

#endif
