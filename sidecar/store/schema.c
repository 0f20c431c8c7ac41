#include "schema.h"

#include <errno.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_sha256_hex(const char *s, size_t len)
{
    if (len != SC_SHA256_HEX_LEN)
        return 0;
    for (size_t i = 0; i != len; ++i)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int has_prefix(const char *s, size_t len, const char *lit, size_t lit_len)
{
    return len >= lit_len && memcmp(s, lit, lit_len) == 0;
}

int sc_schema_invalidation_parse(const char *msg, size_t len, sc_invalidation_t *out)
{
    *out = (sc_invalidation_t){SC_INVALIDATE_ALL, NULL, 0, NULL};
    if (len == 3 && memcmp(msg, "all", 3) == 0)
        return 0;
    if (has_prefix(msg, len, "tenant ", 7)) {
        out->kind = SC_INVALIDATE_TENANT;
        out->tenant = msg + 7;
        out->tenant_len = len - 7;
        return sc_text_tenant_id_valid(out->tenant, out->tenant_len) ? 0 : -1;
    }
    if (has_prefix(msg, len, "key ", 4) && len >= 4 + 1 + 1 + SC_SHA256_HEX_LEN && msg[len - SC_SHA256_HEX_LEN - 1] == ' ') {
        out->kind = SC_INVALIDATE_KEY;
        out->tenant = msg + 4;
        out->tenant_len = len - 4 - 1 - SC_SHA256_HEX_LEN;
        out->sha256_hex = msg + len - SC_SHA256_HEX_LEN;
        return sc_text_tenant_id_valid(out->tenant, out->tenant_len) && is_sha256_hex(out->sha256_hex, SC_SHA256_HEX_LEN) ? 0 : -1;
    }
    return -1;
}

size_t sc_schema_invalidation_format(char *buf, const char *tenant, const char *sha256_hex)
{
    int n = sha256_hex == NULL
                ? snprintf(buf, SC_INVALIDATION_MAX, "tenant %.*s", SC_TENANT_ID_MAX, tenant)
                : snprintf(buf, SC_INVALIDATION_MAX, "key %.*s %.*s", SC_TENANT_ID_MAX, tenant, SC_SHA256_HEX_LEN, sha256_hex);
    return n < 0 ? 0 : (size_t)n < SC_INVALIDATION_MAX ? (size_t)n : SC_INVALIDATION_MAX - 1;
}

size_t sc_schema_tenant_key(char *buf, const char *prefix, const char *tenant, size_t tenant_len)
{
    return (size_t)snprintf(buf, SC_SCHEMA_KEY_MAX, "%s{%.*s}:tenant", prefix, (int)tenant_len, tenant);
}

size_t sc_schema_apikey_key(char *buf, const char *prefix, const char *tenant, size_t tenant_len, const char *sha256_hex)
{
    return (size_t)snprintf(buf, SC_SCHEMA_KEY_MAX, "%s{%.*s}:key:%s", prefix, (int)tenant_len, tenant, sha256_hex);
}

size_t sc_schema_keyids_key(char *buf, const char *prefix, const char *tenant)
{
    return (size_t)snprintf(buf, SC_SCHEMA_KEY_MAX, "%s{%s}:keyids", prefix, tenant);
}

size_t sc_schema_ratelimit_key(char *buf, const char *prefix, const char *tenant, size_t tenant_len, const char *service)
{
    if (service == NULL)
        return (size_t)snprintf(buf, SC_SCHEMA_KEY_MAX, "%s{%.*s}:rl", prefix, (int)tenant_len, tenant);
    return (size_t)snprintf(buf, SC_SCHEMA_KEY_MAX, "%s{%.*s}:rl:%s", prefix, (int)tenant_len, tenant, service);
}

size_t sc_schema_lease_holders_key(char *buf, const char *prefix, const char *tenant, size_t tenant_len, const char *service)
{
    if (service == NULL)
        return (size_t)snprintf(buf, SC_SCHEMA_KEY_MAX, "%s{%.*s}:lh", prefix, (int)tenant_len, tenant);
    return (size_t)snprintf(buf, SC_SCHEMA_KEY_MAX, "%s{%.*s}:lh:%s", prefix, (int)tenant_len, tenant, service);
}

size_t sc_schema_quota_key(char *buf, const char *prefix, const char *tenant, size_t tenant_len, const char *yyyymmdd)
{
    return (size_t)snprintf(buf, SC_SCHEMA_KEY_MAX, "%s{%.*s}:quota:%s", prefix, (int)tenant_len, tenant, yyyymmdd);
}

size_t sc_schema_global_key(char *buf, const char *prefix, const char *name)
{
    return (size_t)snprintf(buf, SC_SCHEMA_KEY_MAX, "%s%s", prefix, name);
}

void sc_schema_hash_key(const char *key, size_t len, char out[SC_SHA256_HEX_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)key, len, digest);
    for (size_t i = 0; i != sizeof(digest); ++i) {
        out[i * 2] = hex[digest[i] >> 4];
        out[i * 2 + 1] = hex[digest[i] & 15];
    }
    out[SC_SHA256_HEX_LEN] = '\0';
}

/* ------------------------------------------------------------------ records */

const sc_record_field_t sc_tenant_record_fields[] = {
    {SC_FIELD_STATUS, SC_RECORD_TEXT},      {SC_FIELD_SERVICES, SC_RECORD_WORDS},
    {SC_FIELD_SCOPES, SC_RECORD_WORDS},     {SC_FIELD_ISSUERS, SC_RECORD_WORDS},
    {SC_FIELD_RATE, SC_RECORD_UINT},        {SC_FIELD_BURST, SC_RECORD_UINT},
    {SC_FIELD_QUOTA_DAILY, SC_RECORD_UINT}, {SC_FIELD_CREATED_AT, SC_RECORD_UINT},
    {SC_FIELD_UPDATED_AT, SC_RECORD_UINT},  {NULL, SC_RECORD_TEXT},
};

const sc_record_field_t sc_apikey_record_fields[] = {
    {SC_FIELD_TENANT, SC_RECORD_TEXT},     {SC_FIELD_KEY_ID, SC_RECORD_TEXT},
    {SC_FIELD_NAME, SC_RECORD_TEXT},       {SC_FIELD_SCOPES, SC_RECORD_WORDS},
    {SC_FIELD_STATUS, SC_RECORD_TEXT},     {SC_FIELD_EXPIRES_AT, SC_RECORD_UINT},
    {SC_FIELD_CREATED_AT, SC_RECORD_UINT}, {NULL, SC_RECORD_TEXT},
};

static int field_is(const char *name, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(name, lit, len) == 0;
}

static int parse_u64(const char *s, size_t len, uint64_t *out)
{
    char buf[24], *end;
    if (len == 0 || len >= sizeof(buf) || s[0] < '0' || s[0] > '9')
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

/* A record's word lists count in 32 bits (it is cached by the 100,000); more words is invalid (-2). */
static int split_words(const char *s, size_t len, char ***words, uint32_t *count)
{
    size_t n = 0;
    if (sc_words_split(s, len, words, &n) != 0)
        return -1;
    *count = (uint32_t)n;
    if (n > UINT32_MAX) {
        sc_words_free(*words, n);
        *words = NULL;
        *count = 0;
        return -2;
    }
    return 0;
}

static int parse_star_list(const char *s, size_t len, uint8_t *all, char ***words, uint32_t *count)
{
    if (len == 1 && s[0] == '*') {
        *all = 1;
        return 0;
    }
    *all = 0;
    return split_words(s, len, words, count);
}

/* A hash holds each field once: a reply naming one twice is malformed (and would leak the first value). */
static int repeated_field(const char *const *strs, const size_t *lens, size_t i)
{
    for (size_t j = 0; j < i; j += 2)
        if (lens[j] == lens[i] && memcmp(strs[j], strs[i], lens[i]) == 0)
            return 1;
    return 0;
}

int sc_schema_tenant_parse(const char *id, const char *const *strs, const size_t *lens, size_t count, sc_tenant_record_t **out,
                           char *err, size_t errsize)
{
    sc_tenant_record_t *t = calloc(1, sizeof(*t));
    int have_status = 0;
    if (t == NULL || (t->id = strdup(id)) == NULL)
        goto NoMem;
    t->all_scopes = 1;
    for (size_t i = 0; i + 1 < count; i += 2) {
        const char *name = strs[i], *v = strs[i + 1];
        size_t nlen = lens[i], vlen = lens[i + 1];
        int rc = 0;
        if (repeated_field(strs, lens, i)) {
            snprintf(err, errsize, "tenant %s: field %.*s appears twice", id, (int)(nlen > 64 ? 64 : nlen), name);
            goto Error;
        }
        if (field_is(name, nlen, SC_FIELD_STATUS)) {
            have_status = 1;
            if (field_is(v, vlen, "active"))
                t->active = 1;
            else if (!field_is(v, vlen, "suspended"))
                rc = -2;
        } else if (field_is(name, nlen, SC_FIELD_SERVICES)) {
            rc = parse_star_list(v, vlen, &t->all_services, &t->services, &t->num_services);
        } else if (field_is(name, nlen, SC_FIELD_SCOPES)) {
            rc = parse_star_list(v, vlen, &t->all_scopes, &t->scopes, &t->num_scopes);
        } else if (field_is(name, nlen, SC_FIELD_ISSUERS)) {
            rc = split_words(v, vlen, &t->issuers, &t->num_issuers);
        } else if (field_is(name, nlen, SC_FIELD_RATE)) {
            rc = parse_u64(v, vlen, &t->rate) == 0 ? 0 : -2;
        } else if (field_is(name, nlen, SC_FIELD_BURST)) {
            rc = parse_u64(v, vlen, &t->burst) == 0 ? 0 : -2;
        } else if (field_is(name, nlen, SC_FIELD_QUOTA_DAILY)) {
            rc = parse_u64(v, vlen, &t->quota_daily) == 0 ? 0 : -2;
        }
        if (rc == -1)
            goto NoMem;
        if (rc == -2) {
            snprintf(err, errsize, "tenant %s: field %.*s has an invalid value", id, (int)(nlen > 64 ? 64 : nlen), name);
            goto Error;
        }
    }
    if (!have_status) {
        snprintf(err, errsize, "tenant %s: record has no status", id);
        goto Error;
    }
    *out = t;
    return 0;
NoMem:
    snprintf(err, errsize, "out of memory");
Error:
    sc_schema_tenant_free(t);
    return -1;
}

int sc_schema_apikey_parse(const char *const *strs, const size_t *lens, size_t count, sc_apikey_record_t **out, char *err,
                           size_t errsize)
{
    sc_apikey_record_t *k = calloc(1, sizeof(*k));
    int have_status = 0;
    if (k == NULL)
        goto NoMem;
    for (size_t i = 0; i + 1 < count; i += 2) {
        const char *name = strs[i], *v = strs[i + 1];
        size_t nlen = lens[i], vlen = lens[i + 1];
        int rc = 0;
        uint64_t u;
        if (repeated_field(strs, lens, i)) {
            snprintf(err, errsize, "API key record: field %.*s appears twice", (int)(nlen > 64 ? 64 : nlen), name);
            goto Error;
        }
        if (field_is(name, nlen, SC_FIELD_TENANT)) {
            rc = (k->tenant = strndup(v, vlen)) == NULL ? -1 : 0;
        } else if (field_is(name, nlen, SC_FIELD_KEY_ID)) {
            rc = (k->key_id = strndup(v, vlen)) == NULL ? -1 : 0;
        } else if (field_is(name, nlen, SC_FIELD_NAME)) {
            rc = (k->name = strndup(v, vlen)) == NULL ? -1 : 0;
        } else if (field_is(name, nlen, SC_FIELD_SCOPES)) {
            rc = sc_words_split(v, vlen, &k->scopes, &k->num_scopes);
        } else if (field_is(name, nlen, SC_FIELD_STATUS)) {
            have_status = 1;
            if (field_is(v, vlen, "active"))
                k->active = 1;
            else if (!field_is(v, vlen, "revoked"))
                rc = -2;
        } else if (field_is(name, nlen, SC_FIELD_EXPIRES_AT)) {
            rc = parse_u64(v, vlen, &u) == 0 && u <= INT64_MAX ? 0 : -2;
            if (rc == 0)
                k->expires_at = (int64_t)u;
        }
        if (rc == -1)
            goto NoMem;
        if (rc == -2) {
            snprintf(err, errsize, "API key record: field %.*s has an invalid value", (int)(nlen > 64 ? 64 : nlen), name);
            goto Error;
        }
    }
    if (!have_status || k->tenant == NULL || k->key_id == NULL) {
        snprintf(err, errsize, "API key record lacks status, tenant or key_id");
        goto Error;
    }
    *out = k;
    return 0;
NoMem:
    snprintf(err, errsize, "out of memory");
Error:
    sc_schema_apikey_free(k);
    return -1;
}

void sc_schema_tenant_free(sc_tenant_record_t *t)
{
    if (t == NULL)
        return;
    free(t->id);
    sc_words_free(t->services, t->num_services);
    sc_words_free(t->scopes, t->num_scopes);
    sc_words_free(t->issuers, t->num_issuers);
    free(t);
}

void sc_schema_apikey_free(sc_apikey_record_t *k)
{
    if (k == NULL)
        return;
    free(k->tenant);
    free(k->key_id);
    free(k->name);
    sc_words_free(k->scopes, k->num_scopes);
    free(k);
}

/* ------------------------------------------------------------------ packed records */

/*
 * A cached record lives as long as it is cached (100,000s of them per worker): packed, it is one
 * block (the struct, then its word arrays, then every string) instead of one allocation per
 * string, which halves what a cached record costs. The block is laid out by the packer below.
 */
typedef struct packer {
    char **ptrs; /* the next free word-array slot */
    char *chars; /* the next free string byte */
} packer_t;

static size_t words_bytes(char *const *words, size_t count)
{
    size_t bytes = count * sizeof(char *);
    for (size_t i = 0; i != count; ++i)
        bytes += strlen(words[i]) + 1;
    return bytes;
}

static size_t string_bytes(const char *s)
{
    return s != NULL ? strlen(s) + 1 : 0;
}

static char *pack_string(packer_t *p, const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s) + 1;
    char *copy = memcpy(p->chars, s, n);
    p->chars += n;
    return copy;
}

static char **pack_words(packer_t *p, char *const *words, size_t count)
{
    if (count == 0)
        return NULL;
    char **copy = p->ptrs;
    p->ptrs += count;
    for (size_t i = 0; i != count; ++i)
        copy[i] = pack_string(p, words[i]);
    return copy;
}

/* The struct is a multiple of a pointer's alignment: the word arrays follow it, the strings them. */
static packer_t packer_at(void *mem, size_t struct_size, size_t num_words)
{
    packer_t p = {(char **)((char *)mem + struct_size), NULL};
    p.chars = (char *)(p.ptrs + num_words);
    return p;
}

size_t sc_schema_tenant_packed_size(const sc_tenant_record_t *t)
{
    return sizeof(*t) + string_bytes(t->id) + words_bytes(t->services, t->num_services) + words_bytes(t->scopes, t->num_scopes) +
           words_bytes(t->issuers, t->num_issuers);
}

sc_tenant_record_t *sc_schema_tenant_pack(const sc_tenant_record_t *t, void *mem)
{
    sc_tenant_record_t *copy = memcpy(mem, t, sizeof(*t));
    packer_t p = packer_at(mem, sizeof(*t), t->num_services + t->num_scopes + t->num_issuers);
    copy->services = pack_words(&p, t->services, t->num_services);
    copy->scopes = pack_words(&p, t->scopes, t->num_scopes);
    copy->issuers = pack_words(&p, t->issuers, t->num_issuers);
    copy->id = pack_string(&p, t->id);
    return copy;
}

size_t sc_schema_apikey_packed_size(const sc_apikey_record_t *k)
{
    return sizeof(*k) + string_bytes(k->tenant) + string_bytes(k->key_id) + string_bytes(k->name) +
           words_bytes(k->scopes, k->num_scopes);
}

sc_apikey_record_t *sc_schema_apikey_pack(const sc_apikey_record_t *k, void *mem)
{
    sc_apikey_record_t *copy = memcpy(mem, k, sizeof(*k));
    packer_t p = packer_at(mem, sizeof(*k), k->num_scopes);
    copy->scopes = pack_words(&p, k->scopes, k->num_scopes);
    copy->tenant = pack_string(&p, k->tenant);
    copy->key_id = pack_string(&p, k->key_id);
    copy->name = pack_string(&p, k->name);
    return copy;
}
