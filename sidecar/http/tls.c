#include "tls.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "log.h"

/*
 * The client-certificate pins, owned by the SSL_CTX (freed with its last reference): after a
 * reload a connection still in its handshake on the previous context verifies against the
 * pins it was accepted with, whatever became of that configuration.
 */
typedef struct pins {
    char **subjects;
    size_t num_subjects;
    unsigned char (*fingerprints)[32];
    size_t num_fingerprints;
} pins_t;

static int pins_index = -1; /* SSL_CTX ex_data slot holding the pins_t */
static pthread_once_t pins_index_once = PTHREAD_ONCE_INIT;

static void free_pins(pins_t *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i != p->num_subjects; ++i)
        free(p->subjects[i]);
    free(p->subjects);
    free(p->fingerprints);
    free(p);
}

static void on_ctx_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    free_pins(ptr);
}

static void create_pins_index(void)
{
    pins_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, on_ctx_free);
}

static pins_t *copy_pins(const sc_tls_config_t *tls)
{
    pins_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    if (tls->num_client_subjects != 0) {
        if ((p->subjects = calloc(tls->num_client_subjects, sizeof(*p->subjects))) == NULL)
            goto Fail;
        for (; p->num_subjects != tls->num_client_subjects; ++p->num_subjects)
            if ((p->subjects[p->num_subjects] = strdup(tls->client_subjects[p->num_subjects])) == NULL)
                goto Fail;
    }
    if (tls->num_client_fingerprints != 0) {
        if ((p->fingerprints = malloc(tls->num_client_fingerprints * sizeof(*p->fingerprints))) == NULL)
            goto Fail;
        memcpy(p->fingerprints, tls->client_fingerprints, tls->num_client_fingerprints * sizeof(*p->fingerprints));
        p->num_fingerprints = tls->num_client_fingerprints;
    }
    return p;
Fail:
    free_pins(p);
    return NULL;
}

static void openssl_reason(char *buf, size_t size)
{
    unsigned long e = ERR_get_error();
    if (e == 0)
        snprintf(buf, size, "unknown OpenSSL error");
    else
        ERR_error_string_n(e, buf, size);
    ERR_clear_error();
}

static int fail(char *err, size_t errsize, const char *file, const char *what)
{
    char reason[256];
    openssl_reason(reason, sizeof(reason));
    snprintf(err, errsize, "%s: %s (%s)", file, what, reason);
    return -1;
}

static int subject_pinned(const pins_t *pins, X509 *cert)
{
    char subject[1024];
    BIO *bio = BIO_new(BIO_s_mem());
    int n = -1;
    if (bio != NULL && X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0)
        n = BIO_read(bio, subject, sizeof(subject) - 1);
    BIO_free(bio);
    if (n < 0)
        return 0;
    subject[n] = '\0';
    for (size_t i = 0; i != pins->num_subjects; ++i)
        if (strcmp(subject, pins->subjects[i]) == 0)
            return 1;
    return 0;
}

static int fingerprint_pinned(const pins_t *pins, X509 *cert)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (X509_digest(cert, EVP_sha256(), digest, &len) != 1 || len != 32)
        return 0;
    for (size_t i = 0; i != pins->num_fingerprints; ++i)
        if (memcmp(digest, pins->fingerprints[i], 32) == 0)
            return 1;
    return 0;
}

/* Runs for every certificate of the chain; the pins apply to the client's own (depth 0). */
static int on_verify(int preverify_ok, X509_STORE_CTX *store)
{
    if (!preverify_ok || X509_STORE_CTX_get_error_depth(store) != 0)
        return preverify_ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    const pins_t *pins = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), pins_index);
    X509 *cert = X509_STORE_CTX_get_current_cert(store);
    if (pins == NULL)
        goto Refuse; /* cannot happen: set before the context is used */
    if (pins->num_subjects != 0 && !subject_pinned(pins, cert))
        goto Refuse;
    if (pins->num_fingerprints != 0 && !fingerprint_pinned(pins, cert))
        goto Refuse;
    return 1;
Refuse:
    X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
}

static int require_client_certificates(sc_tls_config_t *tls, char *err, size_t errsize)
{
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(tls->client_ca_file);
    if (SSL_CTX_load_verify_locations(tls->ctx, tls->client_ca_file, NULL) != 1 || names == NULL) {
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        return fail(err, errsize, tls->client_ca_file, "cannot load the client CA certificates");
    }
    SSL_CTX_set_client_CA_list(tls->ctx, names); /* takes ownership */
    pthread_once(&pins_index_once, create_pins_index);
    pins_t *pins = copy_pins(tls);
    if (pins == NULL || SSL_CTX_set_ex_data(tls->ctx, pins_index, pins) != 1) {
        free_pins(pins);
        snprintf(err, errsize, "%s: out of memory", tls->client_ca_file);
        return -1;
    }
    SSL_CTX_set_verify(tls->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, on_verify);
    SSL_CTX_set_verify_depth(tls->ctx, 4);
    return 0;
}

int sc_tls_build(sc_tls_config_t *tls, char *err, size_t errsize)
{
    if ((tls->ctx = SSL_CTX_new(TLS_server_method())) == NULL)
        return fail(err, errsize, tls->cert_file, "cannot create a TLS context");
    SSL_CTX_set_min_proto_version(tls->ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(tls->ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(tls->ctx, tls->cert_file) != 1)
        return fail(err, errsize, tls->cert_file, "cannot load the certificate chain");
    if (SSL_CTX_use_PrivateKey_file(tls->ctx, tls->key_file, SSL_FILETYPE_PEM) != 1)
        return fail(err, errsize, tls->key_file, "cannot load the private key");
    if (SSL_CTX_check_private_key(tls->ctx) != 1)
        return fail(err, errsize, tls->key_file, "the private key does not match the certificate");
    if (tls->client_ca_file != NULL)
        return require_client_certificates(tls, err, errsize);
    return 0;
}

int sc_tls_ctx_requires_client_cert(SSL_CTX *ctx)
{
    int both = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    return ctx != NULL && (SSL_CTX_get_verify_mode(ctx) & both) == both;
}

int sc_tls_parse_fingerprint(const char *text, unsigned char out[32])
{
    size_t n = 0;
    for (const char *p = text; *p != '\0';) {
        if (*p == ':') {
            ++p;
            continue;
        }
        int hi = sc_hex_digit(p[0]), lo = p[1] != '\0' ? sc_hex_digit(p[1]) : -1;
        if (hi < 0 || lo < 0 || n == 32)
            return -1;
        out[n++] = (unsigned char)(hi << 4 | lo);
        p += 2;
    }
    return n == 32 ? 0 : -1;
}

void sc_tls_config_free(sc_tls_config_t *tls)
{
    if (tls == NULL)
        return;
    if (tls->ctx != NULL)
        SSL_CTX_free(tls->ctx);
    free(tls->cert_file);
    free(tls->key_file);
    free(tls->client_ca_file);
    for (size_t i = 0; i != tls->num_client_subjects; ++i)
        free(tls->client_subjects[i]);
    free(tls->client_subjects);
    free(tls->client_fingerprints);
    free(tls);
}
