/*
 * hash: SipHash-2-4 (Aumasson & Bernstein), the keyed hash of our hash tables. Their keys come
 * from requests; with a random key per table, nobody can choose keys that collide.
 */
#ifndef SC_HASH_H
#define SC_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t sc_hash_siphash(const uint64_t key[2], const char *data, size_t len);

#endif
