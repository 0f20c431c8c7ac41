/*
 * jwks_remote: where an issuer's keys are fetched from, as the host file says it:
 *
 *     jwt_issuers:
 *       - issuer: https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc123
 *         discovery: true                       # <issuer>/.well-known/openid-configuration names jwks_uri
 *         # jwks_uri: https://idp.example/keys  # or the key set's URL itself
 *         ca_file: tls/private-ca.crt           # optional: a private CA instead of the system's
 *         jwks_cache_file: /var/lib/policy-sidecar/cognito.jwks.json   # the last good set
 *         jwks_refresh_s: 900                   # background refresh (Cache-Control max-age may shorten it)
 *         jwks_min_refresh_s: 30                # at most one early refresh (unknown kid) this often
 *         jwks_fetch_timeout_ms: 5000           # per fetch, connection included
 *
 * Only the configuration lives here; fetching is jwks_fetch.c, keeping keys fresh
 * jwks_refresher.c. Start-up and reload only.
 */
#ifndef SC_JWKS_REMOTE_H
#define SC_JWKS_REMOTE_H

#include <stdint.h>

#include "conf.h"
#include "jwt.h"

#define SC_JWKS_DEFAULT_REFRESH_S 900
#define SC_JWKS_DEFAULT_MIN_REFRESH_S 30
#define SC_JWKS_DEFAULT_FETCH_TIMEOUT_MS 5000
#define SC_JWKS_MAX_REFRESH_S 86400

typedef struct sc_jwks_remote {
    char *jwks_uri; /* https://...; NULL with discovery until the document names it */
    int discovery;
    char *ca_file;    /* NULL: the system's CAs */
    char *cache_file; /* NULL: none */
    uint64_t refresh_s, min_refresh_s, fetch_timeout_ms;
} sc_jwks_remote_t;

/* The host-file keys read by sc_jwks_remote_load, for the issuer's list of allowed keys. */
#define SC_JWKS_REMOTE_KEYS                                                                                                        \
    "jwks_uri", "discovery", "ca_file", "jwks_cache_file", "jwks_refresh_s", "jwks_min_refresh_s", "jwks_fetch_timeout_ms"

/**
 * Reads the remote-key settings of the issuer mapping `map` into issuer->remote (left NULL when
 * neither jwks_uri nor discovery is set; the other keys are then refused). Checks what can be
 * checked without the network: https URLs, a readable ca_file, a cache file's directory, bounds.
 * Returns 0, or -1 with "file:line: key: reason" in the reader.
 */
int sc_jwks_remote_load(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, sc_jwt_issuer_t *issuer);

/**
 * 1 when both describe the same source (URL or discovery, CA, cache file), whatever the timings.
 */
int sc_jwks_remote_same_source(const sc_jwks_remote_t *a, const sc_jwks_remote_t *b);

void sc_jwks_remote_free(sc_jwks_remote_t *remote);

#endif
