/*
 * headers: editing h2o header lists safely. h2o_set_header replaces only the first copy of a
 * header, so a client that sends a header twice could smuggle its own value past a "set"; these
 * helpers remove every copy first. Names compare case-insensitively, and where a backend may
 * read headers through CGI-style variables (X_TENANT_ID and X-Tenant-ID are one variable),
 * "loose" matching also treats '_' and '-' as the same character.
 *
 * Names and values are not copied by h2o: callers pass strings that live in the request pool
 * or in static storage.
 */
#ifndef SC_HEADERS_H
#define SC_HEADERS_H

#include <h2o.h>

/**
 * Deletes every header whose name equals `name` (case-insensitive, '_' == '-'). Returns the
 * number removed.
 */
size_t sc_headers_delete_loose(h2o_headers_t *headers, const char *name, size_t name_len);

/**
 * Deletes, in one pass keeping the order of the others, every header for which match(name, ctx)
 * is true. Returns the number removed. Request stripping (forward.c) is this with its own rule.
 */
size_t sc_headers_delete_if(h2o_headers_t *headers, int (*match)(const h2o_iovec_t *name, void *ctx), void *ctx);

/**
 * Deletes every copy of `name` and adds one with `value`.
 */
void sc_headers_replace(h2o_mem_pool_t *pool, h2o_headers_t *headers, const char *name, size_t name_len, const char *value,
                        size_t value_len);

/**
 * Number of headers named exactly `name` (case-insensitive); *first receives the first value.
 */
size_t sc_headers_count(const h2o_headers_t *headers, const char *name, size_t name_len, h2o_iovec_t *first);

/**
 * 1 when the two header names are equal ignoring case and treating '_' and '-' alike.
 */
int sc_headers_name_loose_eq(const char *a, size_t a_len, const char *b, size_t b_len);

/**
 * 1 when `name` starts with `prefix`, compared the same way.
 */
int sc_headers_name_loose_prefix(const char *name, size_t name_len, const char *prefix, size_t prefix_len);

#endif
