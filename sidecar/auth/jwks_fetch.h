/*
 * jwks_fetch: one HTTPS GET of a key set or of an OpenID Connect discovery document, with
 * libcurl. Blocking: called only by the key refresher's own thread and at start-up, never on an
 * event loop.
 *
 * HTTPS only, certificate and host name verified (the system's CAs, or ca_file), connect and
 * total timeouts, at most SC_FETCH_MAX_BYTES, redirects refused (a key set that moved is a
 * configuration change, not something to follow silently).
 */
#ifndef SC_JWKS_FETCH_H
#define SC_JWKS_FETCH_H

#include <stddef.h>
#include <stdint.h>

#define SC_FETCH_MAX_BYTES (1024 * 1024)

typedef struct sc_fetch_options {
    const char *ca_file; /* NULL: the system's CAs */
    uint64_t timeout_ms; /* the whole transfer; connecting gets at most 3 s of it */
    const int *cancel;   /* read atomically: non-zero aborts the transfer (shutdown); may be NULL */
} sc_fetch_options_t;

typedef struct sc_fetch_result {
    char *body; /* NUL-terminated heap copy; free() it */
    size_t len;
    int64_t max_age_s; /* Cache-Control: max-age of the response, -1 when absent */
} sc_fetch_result_t;

/**
 * GETs `url`; only a 200 answer counts. Returns 0, or -1 with "GET URL: reason" in err (then
 * *out holds nothing). Thread-safe once sc_jwks_fetch_global_init has run.
 */
int sc_jwks_fetch_https(const char *url, const sc_fetch_options_t *opts, sc_fetch_result_t *out, char *err, size_t errsize);

/**
 * OpenID Connect discovery: GETs <issuer>/.well-known/openid-configuration, requires its "issuer"
 * to equal `issuer` exactly, and returns its https "jwks_uri" in *jwks_uri (heap). Returns 0, or
 * -1 with a reason in err.
 */
int sc_jwks_fetch_discover(const char *issuer, const sc_fetch_options_t *opts, char **jwks_uri, char *err, size_t errsize);

/**
 * libcurl's global initialisation: once, on the main thread, before any other thread starts.
 */
int sc_jwks_fetch_global_init(void);

#endif
