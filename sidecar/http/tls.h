/*
 * tls: TLS for a service listener, and mutual TLS for the gateway's client certificate.
 *
 * TLS 1.2 at least; HTTP/1.1 only (no ALPN "h2": Debian's h2o has had no security fixes since
 * 2019, so the gateway gets the smaller surface). With client_ca_file, a client certificate
 * signed by that CA is required; the optional pins (exact RFC 2253 subjects, SHA-256
 * fingerprints of the certificate) are enforced in the OpenSSL verify callback, so a connection
 * without an acceptable certificate fails its handshake and never reaches a handler.
 *
 * Everything is read and checked when the configuration is loaded, and again on reload: a
 * reload applies new certificates, keys, client CAs and pins to new connections, while open
 * ones finish on the context they were accepted with (the SSL_CTX is reference-counted, and
 * owns a copy of its pins).
 */
#ifndef SC_TLS_H
#define SC_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

typedef struct sc_tls_config {
    char *cert_file;
    char *key_file;
    char *client_ca_file;   /* NULL: no client certificate asked for */
    char **client_subjects; /* e.g. "CN=api-gateway,O=Example"; NULL/0: any */
    size_t num_client_subjects;
    unsigned char (*client_fingerprints)[32]; /* SHA-256 of the DER certificate; NULL/0: any */
    size_t num_client_fingerprints;
    SSL_CTX *ctx; /* built at load; one reference, released with the configuration */
} sc_tls_config_t;

/**
 * Builds the SSL_CTX from the files. Returns 0, or -1 with "file: reason" in err.
 */
int sc_tls_build(sc_tls_config_t *tls, char *err, size_t errsize);

/**
 * 1 when a handshake on this context succeeds only with a client certificate that verified
 * (client_ca_file and its pins): every request on such a connection comes from its holder.
 */
int sc_tls_ctx_requires_client_cert(SSL_CTX *ctx);

/**
 * Parses "AB:CD:..." or "abcd..." (64 hex digits) into 32 bytes. Returns 0 or -1.
 */
int sc_tls_parse_fingerprint(const char *text, unsigned char out[32]);

void sc_tls_config_free(sc_tls_config_t *tls);

#endif
