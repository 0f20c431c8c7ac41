/*
 * path: the one reading of a request path. The policy judges the path this produces and
 * the backend receives the same path, so that no form of a path (/a//b, /a/%2e%2e/b, /a;x/b,
 * /a\b, /a%2Fb) can be read one way here and another way by the backend's framework.
 *
 * Normalisation, in one pass over the path (the query is not touched):
 *   - percent-escapes of unreserved characters (ALPHA DIGIT - . _ ~) are decoded; every other
 *     escape is kept, with upper-case hex digits; a '%' not followed by two hex digits is refused;
 *   - %2F and %5C (an encoded / or \), a raw '\', and ';' (matrix parameters, which Tomcat and
 *     Spring drop before routing) are refused by default; with SC_PATH_NORMALIZE, %2F, %5C and '\'
 *     become '/', and ";..." is removed up to the end of its segment;
 *   - empty segments are merged ("//" is "/"), then "." and ".." segments resolved (RFC 3986
 *     5.2.4; ".." never climbs above the root);
 *   - control characters, and a path that does not start with '/', are refused.
 * Case is kept: a policy whose backend matches paths case-insensitively compares routes without
 * case (policy.h) and forwards the path as it is, which that backend reads the same way.
 */
#ifndef SC_PATH_H
#define SC_PATH_H

#include <stddef.h>

typedef enum {
    SC_PATH_REJECT = 0, /* the default */
    SC_PATH_NORMALIZE,
} sc_path_unusual_t;

/**
 * Normalises path[0..len) (without the query) into out, which has room for `len` bytes (the
 * result is never longer). Returns 0 and sets *out_len, or -1 when the path is refused.
 */
int sc_path_normalize(const char *path, size_t len, sc_path_unusual_t unusual, char *out, size_t *out_len);

#endif
