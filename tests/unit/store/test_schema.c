/* The Redis data model (tenant ids: test_text.c): key names, key hashing, and the tenant and API
 * key records parsed from HGETALL's alternating field/value strings. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"

#define A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

#define assert_key(len_, buf_, expected)                                                                                           \
    do {                                                                                                                           \
        size_t l_ = (len_);                                                                                                        \
        assert_string_equal((buf_), (expected));                                                                                   \
        assert_int_equal(l_, strlen(expected));                                                                                    \
    } while (0)

static void test_key_names(void **state)
{
    (void)state;
    char buf[SC_SCHEMA_KEY_MAX];
    const char *hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    assert_key(sc_schema_tenant_key(buf, "ps:", "acme", 4), buf, "ps:{acme}:tenant");
    /* the tenant is taken by length: a header value need not be NUL-terminated */
    assert_key(sc_schema_tenant_key(buf, "ps:", "acme, globex", 4), buf, "ps:{acme}:tenant");
    assert_key(sc_schema_apikey_key(buf, "ps:", "acme", 4, hex), buf,
               "ps:{acme}:key:"
               "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_key(sc_schema_keyids_key(buf, "ps:", "acme"), buf, "ps:{acme}:keyids");
    assert_key(sc_schema_ratelimit_key(buf, "ps:", "acme", 4, NULL), buf, "ps:{acme}:rl");
    assert_key(sc_schema_ratelimit_key(buf, "ps:", "acme", 4, "langchain"), buf, "ps:{acme}:rl:langchain");
    assert_key(sc_schema_quota_key(buf, "ps:", "acme", 4, "20240229"), buf, "ps:{acme}:quota:20240229");
    assert_key(sc_schema_global_key(buf, "ps:", "tenants"), buf, "ps:tenants");
    assert_key(sc_schema_global_key(buf, "ps:", "keyid-index"), buf, "ps:keyid-index");
    assert_key(sc_schema_global_key(buf, "ps:", "invalidate"), buf, "ps:invalidate");
    assert_key(sc_schema_tenant_key(buf, "staging:ps:", "a.b_c-d", 7), buf, "staging:ps:{a.b_c-d}:tenant");
}

static void test_longest_key_fits(void **state)
{
    (void)state;
    char prefix[SC_SCHEMA_PREFIX_MAX + 1], buf[SC_SCHEMA_KEY_MAX], hex[SC_SHA256_HEX_LEN + 1];
    memset(prefix, 'p', SC_SCHEMA_PREFIX_MAX);
    prefix[SC_SCHEMA_PREFIX_MAX] = '\0';
    sc_schema_hash_key("k", 1, hex);
    size_t len = sc_schema_apikey_key(buf, prefix, A64, SC_TENANT_ID_MAX, hex);
    assert_int_equal(len, SC_SCHEMA_PREFIX_MAX + 1 + SC_TENANT_ID_MAX + strlen("}:key:") + SC_SHA256_HEX_LEN);
    assert_true(len < SC_SCHEMA_KEY_MAX);
    assert_int_equal(strlen(buf), len); /* not truncated */
    assert_string_equal(buf + len - SC_SHA256_HEX_LEN, hex);
}

static const struct {
    const char *input;
    size_t len;
    const char *hex;
} sha256_vectors[] = {
    /* FIPS 180-2 and the empty string */
    {"abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    /* the length counts, not the NUL */
    {"abcdef", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
};

static void test_hash_key(void **state)
{
    (void)state;
    for (size_t i = 0; i != sizeof(sha256_vectors) / sizeof(sha256_vectors[0]); ++i) {
        char out[SC_SHA256_HEX_LEN + 1];
        memset(out, 'X', sizeof(out));
        sc_schema_hash_key(sha256_vectors[i].input, sha256_vectors[i].len, out);
        if (memchr(out, '\0', sizeof(out)) != out + SC_SHA256_HEX_LEN || strcmp(out, sha256_vectors[i].hex) != 0)
            fail_msg("SHA-256 of \"%.*s\": expected %s, got %.*s", (int)sha256_vectors[i].len, sha256_vectors[i].input,
                     sha256_vectors[i].hex, SC_SHA256_HEX_LEN, out);
    }
}

/* ------------------------------------------------------------------ records */

#define MAX_FIELDS 32

typedef struct {
    const char *strs[MAX_FIELDS];
    size_t lens[MAX_FIELDS];
    size_t count;
} fields_t;

/* Alternating field/value strings, NULL-terminated, as HGETALL returns them. */
static fields_t fields(const char *first, ...)
{
    fields_t f = {.count = 0};
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s != NULL; s = va_arg(ap, const char *)) {
        assert_true(f.count < MAX_FIELDS);
        f.strs[f.count] = s;
        f.lens[f.count] = strlen(s);
        ++f.count;
    }
    va_end(ap);
    return f;
}

static sc_tenant_record_t *parse_tenant(const char *id, fields_t f, char *err, size_t errsize)
{
    sc_tenant_record_t *t = NULL;
    int rc = sc_schema_tenant_parse(id, f.strs, f.lens, f.count, &t, err, errsize);
    if (rc != 0) {
        assert_int_equal(rc, -1);
        assert_null(t); /* *out untouched on failure */
        return NULL;
    }
    assert_non_null(t);
    return t;
}

static sc_apikey_record_t *parse_apikey(fields_t f, char *err, size_t errsize)
{
    sc_apikey_record_t *k = NULL;
    int rc = sc_schema_apikey_parse(f.strs, f.lens, f.count, &k, err, errsize);
    if (rc != 0) {
        assert_int_equal(rc, -1);
        assert_null(k);
        return NULL;
    }
    assert_non_null(k);
    return k;
}

/* A record written from the field table, each field with a value of its type (what sidecarctl writes). */
static fields_t from_table(const sc_record_field_t *table)
{
    fields_t f = {.count = 0};
    for (; table->name != NULL; ++table) {
        const char *v = table->type == SC_RECORD_UINT               ? "7"
                        : table->type == SC_RECORD_WORDS            ? "a b"
                        : strcmp(table->name, SC_FIELD_STATUS) == 0 ? "active"
                        : strcmp(table->name, SC_FIELD_TENANT) == 0 ? "acme"
                                                                    : "k_1";
        assert_true(f.count + 2 <= MAX_FIELDS);
        f.strs[f.count] = table->name;
        f.lens[f.count++] = strlen(table->name);
        f.strs[f.count] = v;
        f.lens[f.count++] = strlen(v);
    }
    return f;
}

/* The table sidecarctl writes from and the parsers agree: every field is read with its type. */
static void test_record_field_tables(void **state)
{
    (void)state;
    char err[256] = "";
    sc_tenant_record_t *t = parse_tenant("acme", from_table(sc_tenant_record_fields), err, sizeof(err));
    if (t == NULL)
        fail_msg("tenant record from the field table: %s", err);
    assert_true(t->active);
    assert_int_equal(t->num_services, 2);
    assert_int_equal(t->num_scopes, 2);
    assert_int_equal(t->num_issuers, 2);
    assert_int_equal(t->rate, 7);
    assert_int_equal(t->burst, 7);
    assert_int_equal(t->quota_daily, 7);
    sc_schema_tenant_free(t);

    sc_apikey_record_t *k = parse_apikey(from_table(sc_apikey_record_fields), err, sizeof(err));
    if (k == NULL)
        fail_msg("API key record from the field table: %s", err);
    assert_true(k->active);
    assert_string_equal(k->tenant, "acme");
    assert_string_equal(k->key_id, "k_1");
    assert_string_equal(k->name, "k_1");
    assert_int_equal(k->num_scopes, 2);
    assert_int_equal(k->expires_at, 7);
    sc_schema_apikey_free(k);
}

static void test_tenant_record_full(void **state)
{
    (void)state;
    char err[256] = "";
    sc_tenant_record_t *t = parse_tenant("acme",
                                         fields("status", "active", "services", "langchain rag", "scopes", "read write", "issuers",
                                                "https://idp.example.com https://login.example.org", "rate", "100", "burst", "200",
                                                "quota_daily", "100000", "created_at", "1700000000", "updated_at", "1700000001",
                                                "colour", "blue", /* a newer writer's field */
                                                NULL),
                                         err, sizeof(err));
    assert_non_null(t);
    assert_string_equal(err, "");
    assert_string_equal(t->id, "acme");
    assert_int_equal(t->active, 1);
    assert_int_equal(t->all_services, 0);
    assert_int_equal(t->num_services, 2);
    assert_string_equal(t->services[0], "langchain");
    assert_string_equal(t->services[1], "rag");
    assert_int_equal(t->all_scopes, 0);
    assert_int_equal(t->num_scopes, 2);
    assert_string_equal(t->scopes[0], "read");
    assert_string_equal(t->scopes[1], "write");
    assert_int_equal(t->num_issuers, 2);
    assert_string_equal(t->issuers[0], "https://idp.example.com");
    assert_string_equal(t->issuers[1], "https://login.example.org");
    assert_int_equal(t->rate, 100);
    assert_int_equal(t->burst, 200);
    assert_int_equal(t->quota_daily, 100000);
    sc_schema_tenant_free(t);
}

static void test_tenant_record_defaults(void **state)
{
    (void)state;
    char err[256];
    sc_tenant_record_t *t = parse_tenant("acme", fields("status", "suspended", NULL), err, sizeof(err));
    assert_non_null(t);
    assert_int_equal(t->active, 0);
    assert_int_equal(t->all_services, 0); /* no services field: no service */
    assert_int_equal(t->num_services, 0);
    assert_int_equal(t->all_scopes, 1); /* no scopes field: no cap */
    assert_int_equal(t->num_scopes, 0);
    assert_null(t->issuers); /* any configured issuer */
    assert_int_equal(t->num_issuers, 0);
    assert_int_equal(t->rate, 0);
    assert_int_equal(t->burst, 0);
    assert_int_equal(t->quota_daily, 0);
    sc_schema_tenant_free(t);

    t = parse_tenant("acme", fields("services", "*", "scopes", "*", "status", "active", NULL), err, sizeof(err));
    assert_non_null(t);
    assert_int_equal(t->all_services, 1);
    assert_int_equal(t->num_services, 0);
    assert_int_equal(t->all_scopes, 1);
    assert_int_equal(t->num_scopes, 0);
    sc_schema_tenant_free(t);

    /* present but empty scopes cap the credential to nothing (the strict reading) */
    t = parse_tenant("acme", fields("status", "active", "scopes", "", NULL), err, sizeof(err));
    assert_non_null(t);
    assert_int_equal(t->all_scopes, 0);
    assert_int_equal(t->num_scopes, 0);
    sc_schema_tenant_free(t);

    /* the largest 64-bit value is a valid number */
    t = parse_tenant("acme", fields("status", "active", "quota_daily", "18446744073709551615", NULL), err, sizeof(err));
    assert_non_null(t);
    assert_true(t->quota_daily == UINT64_MAX);
    sc_schema_tenant_free(t);
}

static const struct {
    const char *name;
    const char *field, *value;
} invalid_tenant_fields[] = {
    {"unknown status", "status", "enabled"},
    {"empty status", "status", ""},
    {"status in upper case", "status", "ACTIVE"},
    {"negative rate", "rate", "-1"},
    {"rate not a number", "rate", "ten"},
    {"fractional rate", "rate", "1.5"},
    {"rate with a leading space", "rate", " 5"},
    {"rate with a plus sign", "rate", "+5"},
    {"rate with trailing junk", "rate", "5x"},
    {"empty rate", "rate", ""},
    {"rate beyond 64 bits", "rate", "18446744073709551616"},
    {"burst not a number", "burst", "lots"},
    {"quota in exponent form", "quota_daily", "1e3"},
};

static void test_tenant_record_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i != sizeof(invalid_tenant_fields) / sizeof(invalid_tenant_fields[0]); ++i) {
        char err[256] = "", expected[256];
        const char *field = invalid_tenant_fields[i].field, *value = invalid_tenant_fields[i].value;
        /* status is present in every case, so the refusal is about the bad field */
        fields_t f = strcmp(field, "status") == 0 ? fields("scopes", "read", field, value, NULL)
                                                  : fields("status", "active", "scopes", "read", field, value, NULL);
        sc_tenant_record_t *t = parse_tenant("acme", f, err, sizeof(err));
        snprintf(expected, sizeof(expected), "tenant acme: field %s has an invalid value", field);
        if (t != NULL || strcmp(err, expected) != 0) {
            sc_schema_tenant_free(t);
            fail_msg("case \"%s\": expected \"%s\", got \"%s\"", invalid_tenant_fields[i].name, expected,
                     t != NULL ? "(parsed)" : err);
        }
    }
}

static void test_tenant_record_without_status(void **state)
{
    (void)state;
    char err[256] = "";
    /* the lists parsed before the refusal are released (valgrind checks) */
    assert_null(parse_tenant("acme", fields("services", "langchain rag", "scopes", "read", "issuers", "https://idp", NULL), err,
                             sizeof(err)));
    assert_string_equal(err, "tenant acme: record has no status");
    assert_null(parse_tenant("acme", fields(NULL), err, sizeof(err)));
    assert_string_equal(err, "tenant acme: record has no status");
    /* an odd count: the last field has no value and is ignored */
    assert_null(parse_tenant("acme", fields("services", "*", "status", NULL), err, sizeof(err)));
    assert_string_equal(err, "tenant acme: record has no status");
}

static void test_apikey_record_full(void **state)
{
    (void)state;
    char err[256] = "";
    sc_apikey_record_t *k =
        parse_apikey(fields("tenant", "acme", "key_id", "k_2f9a", "name", "ci pipeline", "scopes", "read write read", "status",
                            "active", "expires_at", "1735689600", "created_at", "1700000000", "last_used", "ignored", NULL),
                     err, sizeof(err));
    assert_non_null(k);
    assert_string_equal(err, "");
    assert_string_equal(k->tenant, "acme");
    assert_string_equal(k->key_id, "k_2f9a");
    assert_string_equal(k->name, "ci pipeline");
    assert_int_equal(k->num_scopes, 2);
    assert_string_equal(k->scopes[0], "read");
    assert_string_equal(k->scopes[1], "write");
    assert_int_equal(k->active, 1);
    assert_int_equal(k->expires_at, 1735689600);
    sc_schema_apikey_free(k);

    k = parse_apikey(fields("status", "revoked", "key_id", "k1", "tenant", "acme", NULL), err, sizeof(err));
    assert_non_null(k);
    assert_int_equal(k->active, 0);
    assert_null(k->name);
    assert_null(k->scopes);
    assert_int_equal(k->num_scopes, 0);
    assert_int_equal(k->expires_at, 0); /* never */
    sc_schema_apikey_free(k);

    k = parse_apikey(fields("status", "active", "key_id", "k1", "tenant", "acme", "expires_at", "9223372036854775807", NULL), err,
                     sizeof(err));
    assert_non_null(k);
    assert_true(k->expires_at == INT64_MAX);
    sc_schema_apikey_free(k);
}

/* A packed copy stands alone: the original is freed first (ASan sees any pointer left into it),
 * and the copy must fill exactly the size announced (ASan sees a write past a block of that size). */
static void test_tenant_record_packed(void **state)
{
    (void)state;
    char err[256] = "";
    sc_tenant_record_t *t = parse_tenant("acme",
                                         fields("status", "active", "services", "langchain rag", "scopes", "read write", "issuers",
                                                "https://idp.example.com", "rate", "100", "burst", "200", "quota_daily", "7", NULL),
                                         err, sizeof(err));
    assert_non_null(t);
    size_t size = sc_schema_tenant_packed_size(t);
    void *block = malloc(size);
    sc_tenant_record_t *p = sc_schema_tenant_pack(t, block);
    sc_schema_tenant_free(t);
    assert_ptr_equal(p, block);
    assert_string_equal(p->id, "acme");
    assert_int_equal(p->active, 1);
    assert_int_equal(p->num_services, 2);
    assert_string_equal(p->services[0], "langchain");
    assert_string_equal(p->services[1], "rag");
    assert_int_equal(p->num_scopes, 2);
    assert_string_equal(p->scopes[1], "write");
    assert_int_equal(p->num_issuers, 1);
    assert_string_equal(p->issuers[0], "https://idp.example.com");
    assert_int_equal(p->rate, 100);
    assert_int_equal(p->burst, 200);
    assert_int_equal(p->quota_daily, 7);
    for (char **w = p->services; w != p->services + p->num_services; ++w)
        assert_true(*w > (char *)block && *w < (char *)block + size); /* inside the block */
    free(block);

    /* all services, all scopes, no issuers: no word arrays at all */
    t = parse_tenant("b", fields("status", "suspended", "services", "*", NULL), err, sizeof(err));
    assert_non_null(t);
    block = malloc(sc_schema_tenant_packed_size(t));
    p = sc_schema_tenant_pack(t, block);
    sc_schema_tenant_free(t);
    assert_string_equal(p->id, "b");
    assert_int_equal(p->active, 0);
    assert_int_equal(p->all_services, 1);
    assert_int_equal(p->all_scopes, 1);
    assert_null(p->services);
    assert_null(p->issuers);
    free(block);
}

static void test_apikey_record_packed(void **state)
{
    (void)state;
    char err[256] = "";
    sc_apikey_record_t *k = parse_apikey(fields("tenant", "acme", "key_id", "k_2f9a", "name", "ci pipeline", "scopes", "read write",
                                                "status", "active", "expires_at", "1735689600", NULL),
                                         err, sizeof(err));
    assert_non_null(k);
    void *block = malloc(sc_schema_apikey_packed_size(k));
    sc_apikey_record_t *p = sc_schema_apikey_pack(k, block);
    sc_schema_apikey_free(k);
    assert_string_equal(p->tenant, "acme");
    assert_string_equal(p->key_id, "k_2f9a");
    assert_string_equal(p->name, "ci pipeline");
    assert_int_equal(p->num_scopes, 2);
    assert_string_equal(p->scopes[0], "read");
    assert_string_equal(p->scopes[1], "write");
    assert_int_equal(p->active, 1);
    assert_int_equal(p->expires_at, 1735689600);
    free(block);

    k = parse_apikey(fields("status", "revoked", "key_id", "k1", "tenant", "acme", NULL), err, sizeof(err));
    assert_non_null(k);
    block = malloc(sc_schema_apikey_packed_size(k));
    p = sc_schema_apikey_pack(k, block);
    sc_schema_apikey_free(k);
    assert_null(p->name);
    assert_null(p->scopes);
    assert_string_equal(p->key_id, "k1");
    free(block);
}

static const struct {
    const char *name;
    const char *field, *value;
} invalid_apikey_fields[] = {
    {"unknown status", "status", "disabled"},
    {"tenant status word", "status", "suspended"},
    {"empty status", "status", ""},
    {"negative expiry", "expires_at", "-5"},
    {"expiry not a number", "expires_at", "tomorrow"},
    {"expiry as a date", "expires_at", "2025-01-01"},
    {"empty expiry", "expires_at", ""},
    {"expiry beyond int64", "expires_at", "9223372036854775808"},
    {"expiry beyond uint64", "expires_at", "18446744073709551616"},
};

static void test_apikey_record_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i != sizeof(invalid_apikey_fields) / sizeof(invalid_apikey_fields[0]); ++i) {
        char err[256] = "", expected[256];
        const char *field = invalid_apikey_fields[i].field, *value = invalid_apikey_fields[i].value;
        /* the strings parsed before the refusal are released (valgrind checks) */
        fields_t f =
            strcmp(field, "status") == 0
                ? fields("tenant", "acme", "key_id", "k1", "name", "n", "scopes", "read", field, value, NULL)
                : fields("tenant", "acme", "key_id", "k1", "name", "n", "scopes", "read", "status", "active", field, value, NULL);
        sc_apikey_record_t *k = parse_apikey(f, err, sizeof(err));
        snprintf(expected, sizeof(expected), "API key record: field %s has an invalid value", field);
        if (k != NULL || strcmp(err, expected) != 0) {
            sc_schema_apikey_free(k);
            fail_msg("case \"%s\": expected \"%s\", got \"%s\"", invalid_apikey_fields[i].name, expected,
                     k != NULL ? "(parsed)" : err);
        }
    }
}

static void test_apikey_record_incomplete(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *strs[8];
    } cases[] = {
        {"no tenant", {"key_id", "k1", "status", "active", "scopes", "read"}},
        {"no key_id", {"tenant", "acme", "status", "active", "name", "n"}},
        {"no status", {"tenant", "acme", "key_id", "k1", "scopes", "a b"}},
        {"nothing", {0}},
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        fields_t f = {.count = 0};
        for (size_t j = 0; j != 8 && cases[i].strs[j] != NULL; ++j, ++f.count) {
            f.strs[j] = cases[i].strs[j];
            f.lens[j] = strlen(cases[i].strs[j]);
        }
        char err[256] = "";
        sc_apikey_record_t *k = parse_apikey(f, err, sizeof(err));
        if (k != NULL || strcmp(err, "API key record lacks status, tenant or key_id") != 0) {
            sc_schema_apikey_free(k);
            fail_msg("case \"%s\": got \"%s\"", cases[i].name, k != NULL ? "(parsed)" : err);
        }
    }
}

#define LIT(s) (s), (sizeof(s) - 1)
#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_invalidation_parse_valid(void **state)
{
    sc_invalidation_t m;
    assert_int_equal(sc_schema_invalidation_parse(LIT("all"), &m), 0);
    assert_int_equal(m.kind, SC_INVALIDATE_ALL);
    assert_int_equal(sc_schema_invalidation_parse(LIT("tenant acme-1.x_y"), &m), 0);
    assert_int_equal(m.kind, SC_INVALIDATE_TENANT);
    assert_int_equal(m.tenant_len, 10);
    assert_memory_equal(m.tenant, "acme-1.x_y", 10);
    assert_int_equal(sc_schema_invalidation_parse(LIT("key acme " HEX64), &m), 0);
    assert_int_equal(m.kind, SC_INVALIDATE_KEY);
    assert_int_equal(m.tenant_len, 4);
    assert_memory_equal(m.tenant, "acme", 4);
    assert_memory_equal(m.sha256_hex, HEX64, 64);
}

/* The format the sidecar reads is the one sidecarctl writes. */
static void test_invalidation_round_trip(void **state)
{
    char buf[SC_INVALIDATION_MAX], longest[SC_TENANT_ID_MAX + 1];
    sc_invalidation_t m;
    memset(longest, 'T', SC_TENANT_ID_MAX);
    longest[SC_TENANT_ID_MAX] = '\0';
    size_t len = sc_schema_invalidation_format(buf, longest, HEX64);
    assert_int_equal(len, strlen(buf));
    assert_int_equal(sc_schema_invalidation_parse(buf, len, &m), 0);
    assert_int_equal(m.kind, SC_INVALIDATE_KEY);
    assert_int_equal(m.tenant_len, SC_TENANT_ID_MAX);
    len = sc_schema_invalidation_format(buf, "acme", NULL);
    assert_string_equal(buf, "tenant acme");
    assert_int_equal(sc_schema_invalidation_parse(buf, len, &m), 0);
    assert_int_equal(m.kind, SC_INVALIDATE_TENANT);
}

/* Anyone who can PUBLISH on the channel can send these: each must be refused, none read out of
 * bounds (the first one overflowed a stack buffer in the tenant store). */
static void test_invalidation_parse_hostile(void **state)
{
    char tenant400[4 + 400 + 1 + 64 + 1];
    memset(tenant400, 'A', sizeof(tenant400));
    memcpy(tenant400, "key ", 4);
    tenant400[4 + 400] = ' ';
    memset(tenant400 + 4 + 400 + 1, '0', 64);
    const struct {
        const char *msg;
        size_t len;
    } cases[] = {
        {tenant400, sizeof(tenant400) - 1},
        {LIT("")},
        {LIT("al")},
        {LIT("all ")},
        {LIT("ALL")},
        {LIT("tenant ")},
        {LIT("tenant a b")},
        {LIT("tenant a\"b")},
        {LIT("tenant \xff")},
        {LIT("tenant a\0b")},
        {LIT("key  " HEX64)},                                                               /* empty tenant */
        {LIT("key acme " HEX64 "0")},                                                       /* 65 digits */
        {LIT("key acme 0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef")}, /* upper case */
        {LIT("key acme 0123456789abcdeg0123456789abcdef0123456789abcdef0123456789abcdef")}, /* not hex */
        {LIT("key " HEX64)},                                                                /* no tenant at all */
        {LIT("key a/b " HEX64)},
        {LIT("keys acme " HEX64)},
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        sc_invalidation_t m;
        if (sc_schema_invalidation_parse(cases[i].msg, cases[i].len, &m) != -1)
            fail_msg("case %zu accepted", i);
    }
    char too_long[4 + SC_TENANT_ID_MAX + 1 + 1 + 64 + 1];
    memcpy(too_long, "key ", 4);
    memset(too_long + 4, 't', SC_TENANT_ID_MAX + 1);
    too_long[4 + SC_TENANT_ID_MAX + 1] = ' ';
    memcpy(too_long + 4 + SC_TENANT_ID_MAX + 2, HEX64, 64);
    sc_invalidation_t m;
    assert_int_equal(sc_schema_invalidation_parse(too_long, sizeof(too_long) - 1, &m), -1);
}

/* Found by fuzz_record: a field named twice leaked its first value. A hash cannot hold a field
 * twice, so such a reply is refused. */
static void test_repeated_fields_are_refused(void **state)
{
    const char *t[] = {"status", "active", "services", "a b", "services", "c"};
    size_t tl[] = {6, 6, 8, 3, 8, 1};
    sc_tenant_record_t *tr = NULL;
    char err[256];
    assert_int_equal(sc_schema_tenant_parse("acme", t, tl, 6, &tr, err, sizeof(err)), -1);
    assert_null(tr);
    assert_string_equal(err, "tenant acme: field services appears twice");
    const char *k[] = {"tenant", "acme", "key_id", "k_1", "status", "active", "scopes", "a", "scopes", "b"};
    size_t kl[] = {6, 4, 6, 3, 6, 6, 6, 1, 6, 1};
    sc_apikey_record_t *kr = NULL;
    assert_int_equal(sc_schema_apikey_parse(k, kl, 10, &kr, err, sizeof(err)), -1);
    assert_null(kr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_names),
        cmocka_unit_test(test_longest_key_fits),
        cmocka_unit_test(test_hash_key),
        cmocka_unit_test(test_record_field_tables),
        cmocka_unit_test(test_tenant_record_full),
        cmocka_unit_test(test_tenant_record_defaults),
        cmocka_unit_test(test_tenant_record_invalid),
        cmocka_unit_test(test_tenant_record_without_status),
        cmocka_unit_test(test_apikey_record_full),
        cmocka_unit_test(test_apikey_record_invalid),
        cmocka_unit_test(test_apikey_record_incomplete),
        cmocka_unit_test(test_invalidation_parse_valid),
        cmocka_unit_test(test_invalidation_round_trip),
        cmocka_unit_test(test_invalidation_parse_hostile),
        cmocka_unit_test(test_repeated_fields_are_refused),
        cmocka_unit_test(test_tenant_record_packed),
        cmocka_unit_test(test_apikey_record_packed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
