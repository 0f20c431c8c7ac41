#include "auth_failures.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

/* An address as text: IPv6 is at most 45 characters. */
#define CLIENT_MAX 46

typedef struct client_slot {
    char addr[CLIENT_MAX];
    uint8_t len; /* 0: free */
    uint64_t tat;
} client_slot_t;

typedef struct token_slot {
    unsigned char digest[SC_AUTH_DIGEST_LEN];
    uint64_t expires_ns; /* 0: free */
} token_slot_t;

struct sc_auth_failures {
    sc_gcra_limit_t per_client, total;
    uint64_t total_tat;
    uint64_t sip_key[2];
    client_slot_t *clients;
    size_t num_clients;
    token_slot_t *tokens;
    size_t num_tokens;
    uint64_t token_ttl_ns;
};

sc_auth_failures_t *sc_auth_failures_create(sc_gcra_limit_t per_client, sc_gcra_limit_t total, size_t clients, size_t tokens,
                                            uint64_t token_ttl_ns)
{
    sc_auth_failures_t *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->per_client = per_client;
    f->total = total;
    f->num_clients = clients;
    f->num_tokens = tokens;
    f->token_ttl_ns = token_ttl_ns;
    f->clients = calloc(clients, sizeof(*f->clients));
    f->tokens = calloc(tokens, sizeof(*f->tokens));
    if (f->clients == NULL || f->tokens == NULL || RAND_bytes((unsigned char *)f->sip_key, sizeof(f->sip_key)) != 1) {
        sc_auth_failures_free(f);
        return NULL;
    }
    return f;
}

void sc_auth_failures_free(sc_auth_failures_t *f)
{
    if (f == NULL)
        return;
    free(f->clients);
    free(f->tokens);
    free(f);
}

/* The client's slot; a client that is not there (never seen, or pushed out) takes it over. */
static client_slot_t *client_slot(sc_auth_failures_t *f, const char *client, size_t len)
{
    if (len >= CLIENT_MAX)
        len = CLIENT_MAX - 1;
    client_slot_t *s = &f->clients[sc_hash_siphash(f->sip_key, client, len) % f->num_clients];
    if (s->len != len || memcmp(s->addr, client, len) != 0) {
        memcpy(s->addr, client, len);
        s->len = (uint8_t)len;
        s->tat = 0;
    }
    return s;
}

static uint64_t seconds_until(uint64_t ns)
{
    uint64_t s = (ns + 999999999) / 1000000000;
    return s != 0 ? s : 1;
}

uint64_t sc_auth_failures_exhausted(sc_auth_failures_t *f, const char *client, size_t len, uint64_t now_ns)
{
    uint64_t unused;
    sc_gcra_result_t total = sc_gcra_decide(f->total_tat, now_ns, f->total, &unused);
    if (!total.allowed)
        return seconds_until(total.retry_after_ns);
    sc_gcra_result_t mine = sc_gcra_decide(client_slot(f, client, len)->tat, now_ns, f->per_client, &unused);
    return mine.allowed ? 0 : seconds_until(mine.retry_after_ns);
}

void sc_auth_failures_count(sc_auth_failures_t *f, const char *client, size_t len, uint64_t now_ns)
{
    client_slot_t *s = client_slot(f, client, len);
    sc_gcra_decide(s->tat, now_ns, f->per_client, &s->tat);
    sc_gcra_decide(f->total_tat, now_ns, f->total, &f->total_tat);
}

static token_slot_t *token_slot(sc_auth_failures_t *f, const unsigned char *digest)
{
    return &f->tokens[sc_hash_siphash(f->sip_key, (const char *)digest, SC_AUTH_DIGEST_LEN) % f->num_tokens];
}

void sc_auth_failures_remember_bad_token(sc_auth_failures_t *f, const unsigned char digest[SC_AUTH_DIGEST_LEN], uint64_t now_ns)
{
    token_slot_t *s = token_slot(f, digest);
    memcpy(s->digest, digest, SC_AUTH_DIGEST_LEN);
    s->expires_ns = now_ns + f->token_ttl_ns;
}

int sc_auth_failures_known_bad_token(sc_auth_failures_t *f, const unsigned char digest[SC_AUTH_DIGEST_LEN], uint64_t now_ns)
{
    token_slot_t *s = token_slot(f, digest);
    return s->expires_ns > now_ns && CRYPTO_memcmp(s->digest, digest, SC_AUTH_DIGEST_LEN) == 0;
}
