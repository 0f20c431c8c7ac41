/* libFuzzer target: what Redis hands the tenant store — invalidation messages (anyone who can
 * PUBLISH on the channel writes them) and HGETALL records of tenants and API keys. The first
 * byte picks the parser; for records the rest is split at NUL bytes into field/value strings.
 * Contracts checked: a parsed message points inside the input, with a valid tenant id and 64
 * lower-case hex digits; the store applies any message without reading out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"
#include "tenant_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_STRINGS 300 /* a little more than the store accepts, so the parsers see long records too */

static sc_tenant_store_t *store;

/* One store for the whole run, on a loop that never runs: its Redis connections stay pending. */
static sc_tenant_store_t *the_store(void)
{
    static sc_redis_config_t redis = {.url = "redis://127.0.0.1:1/0",
                                      .host = "127.0.0.1",
                                      .port = 1,
                                      .prefix = "ps:",
                                      .timeout_ms = 50,
                                      .connect_timeout_ms = 100};
    static const sc_tenant_store_config_t config = {
        .ttl_ms = 60000, .negative_ttl_ms = 5000, .max_stale_ms = 300000, .max_entries = 64, .max_negative_entries = 16};
    if (store == NULL)
        store = sc_tenant_store_create(h2o_evloop_create(), &redis, &config);
    return store;
}

static void check_invalidation(const char *msg, size_t len)
{
    sc_invalidation_t m;
    if (sc_schema_invalidation_parse(msg, len, &m) == 0 && m.kind != SC_INVALIDATE_ALL) {
        if (m.tenant < msg || m.tenant + m.tenant_len > msg + len || !sc_text_tenant_id_valid(m.tenant, m.tenant_len))
            abort();
        if (m.kind == SC_INVALIDATE_KEY) {
            if (m.sha256_hex < msg || m.sha256_hex + SC_SHA256_HEX_LEN > msg + len)
                abort();
            for (size_t i = 0; i != SC_SHA256_HEX_LEN; ++i)
                if (strchr("0123456789abcdef", m.sha256_hex[i]) == NULL || m.sha256_hex[i] == '\0')
                    abort();
        }
    }
    sc_tenant_store_invalidate(the_store(), msg, len);
}

/* The cache keeps packed copies: packing must fit the size it announces (ASan watches the block)
 * and keep every word, which is checked against the parsed record before it is freed. */
static void check_words(char **a, char **b, size_t n)
{
    for (size_t i = 0; i != n; ++i)
        if (strcmp(a[i], b[i]) != 0)
            abort();
}

static void check_tenant_packed(sc_tenant_record_t *r)
{
    sc_tenant_record_t *p = sc_schema_tenant_pack(r, malloc(sc_schema_tenant_packed_size(r)));
    if (strcmp(p->id, r->id) != 0 || p->num_services != r->num_services || p->num_scopes != r->num_scopes ||
        p->num_issuers != r->num_issuers)
        abort();
    check_words(p->services, r->services, r->num_services);
    check_words(p->scopes, r->scopes, r->num_scopes);
    check_words(p->issuers, r->issuers, r->num_issuers);
    sc_schema_tenant_free(r);
    free(p);
}

static void check_apikey_packed(sc_apikey_record_t *r)
{
    sc_apikey_record_t *p = sc_schema_apikey_pack(r, malloc(sc_schema_apikey_packed_size(r)));
    if (strcmp(p->tenant, r->tenant) != 0 || strcmp(p->key_id, r->key_id) != 0 || (p->name == NULL) != (r->name == NULL) ||
        (p->name != NULL && strcmp(p->name, r->name) != 0) || p->num_scopes != r->num_scopes)
        abort();
    check_words(p->scopes, r->scopes, r->num_scopes);
    sc_schema_apikey_free(r);
    free(p);
}

static void check_record(int tenant, const char *data, size_t size)
{
    const char *strs[MAX_STRINGS];
    size_t lens[MAX_STRINGS], n = 0;
    for (size_t start = 0; start <= size && n != MAX_STRINGS;) {
        const char *end = memchr(data + start, '\0', size - start);
        size_t len = end != NULL ? (size_t)(end - (data + start)) : size - start;
        strs[n] = data + start;
        lens[n++] = len;
        start += len + 1;
    }
    char err[256];
    if (tenant) {
        sc_tenant_record_t *r = NULL;
        if (sc_schema_tenant_parse("fuzz", strs, lens, n, &r, err, sizeof(err)) == 0)
            check_tenant_packed(r);
    } else {
        sc_apikey_record_t *r = NULL;
        if (sc_schema_apikey_parse(strs, lens, n, &r, err, sizeof(err)) == 0)
            check_apikey_packed(r);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    /* a copy of exactly the input's length, so that ASan sees any read past its end */
    char *copy = malloc(size - 1 + 1);
    memcpy(copy, data + 1, size - 1);
    switch (data[0] % 3) {
    case 0:
        check_invalidation(copy, size - 1);
        break;
    case 1:
        check_record(1, copy, size - 1);
        break;
    default:
        check_record(0, copy, size - 1);
        break;
    }
    free(copy);
    return 0;
}
