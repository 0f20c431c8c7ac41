#define _GNU_SOURCE /* memmem */
#include "jwt_issuers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "file_util.h"
#include "jwks_remote.h"
#include "jwt_issuer_tokens.h"

static const char *const issuer_keys[] = {"issuer",   "audiences",    "algorithms", "jwks_file",         "hmac_secret_file",
                                          "hmac_kid", "tenant_claim", "leeway_s",   SC_JWKS_REMOTE_KEYS, SC_JWT_ISSUER_TOKEN_KEYS,
                                          NULL};

static int read_algorithms(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, unsigned *out)
{
    char key[SC_CONF_KEY_MAX], item_key[SC_CONF_KEY_MAX], all[128];
    const sc_yaml_node_t *node = sc_yaml_tree_get(map, "algorithms");
    char **names = NULL;
    size_t n = 0;
    int rc = -1;

    sc_conf_key(key, where, "algorithms");
    if (sc_conf_require(r, map, where, "algorithms") != 0 || sc_conf_strings(r, map, where, "algorithms", &names, &n) != 0)
        return -1;
    if (n == 0) {
        sc_conf_error(r, node, key, "must list at least one algorithm");
        goto Exit;
    }
    for (size_t i = 0; i != n; ++i) {
        const sc_yaml_node_t *at = node->type == SC_YAML_SEQUENCE ? node->items[i] : node;
        const char *item = node->type == SC_YAML_SEQUENCE ? sc_conf_index(item_key, key, i) : key;
        sc_jws_alg_t alg = sc_jwks_alg_from_name(names[i], strlen(names[i]));
        if (strcasecmp(names[i], "none") == 0) {
            sc_conf_error(r, at, item, "\"%s\" is refused: unsigned tokens are never accepted", names[i]);
            goto Exit;
        }
        if (alg == SC_JWS_ALG_INVALID) {
            sc_conf_error(r, at, item, "unknown algorithm \"%s\" (one of %s; names are case-sensitive)", names[i],
                          sc_jwks_algs_format(~0u, all, sizeof(all)));
            goto Exit;
        }
        *out |= SC_JWS_ALG_BIT(alg);
    }
    rc = 0;
Exit:
    sc_conf_free_strings(names, n);
    return rc;
}

/* PEM ("-----BEGIN PUBLIC KEY-----", certificates, private keys) or a JWK / JWK Set. */
static int looks_like_key_file(const char *text, size_t len)
{
    size_t i = 0;
    while (i != len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
        ++i;
    return memmem(text, len, "-----BEGIN ", 11) != NULL || (i != len && text[i] == '{' && memmem(text, len, "\"kty\"", 5) != NULL);
}

static int read_audiences(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, sc_jwt_issuer_t *issuer)
{
    char key[SC_CONF_KEY_MAX];
    /* optional when client_ids is given (jwt_issuer_tokens.c checks that one of them is) */
    if (sc_conf_strings(r, map, where, "audiences", &issuer->audiences, &issuer->num_audiences) != 0)
        return -1;
    if (sc_yaml_tree_get(map, "audiences") != NULL && issuer->num_audiences == 0)
        return sc_conf_error(r, sc_yaml_tree_get(map, "audiences"), sc_conf_key(key, where, "audiences"),
                             "must list at least one audience");
    if (issuer->num_audiences > SC_JWT_MAX_AUDIENCES)
        return sc_conf_error(r, sc_yaml_tree_get(map, "audiences"), sc_conf_key(key, where, "audiences"),
                             "lists more than %d audiences", SC_JWT_MAX_AUDIENCES);
    return 0;
}

static int read_jwks(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, sc_jwt_issuer_t *issuer)
{
    char key[SC_CONF_KEY_MAX], reason[512], *text;
    const sc_yaml_node_t *at = sc_yaml_tree_get(map, "jwks_file");
    size_t len;

    if (issuer->jwks_file == NULL)
        return 0;
    sc_conf_key(key, where, "jwks_file");
    if (sc_file_util_read(issuer->jwks_file, SC_MAX_CONFIG_FILE_SIZE, &text, &len, reason, sizeof(reason)) != 0)
        return sc_conf_error(r, at, key, "%s", reason);
    int added =
        sc_jwks_parse(text, len, issuer->jwks_file, issuer->algorithms, &issuer->keys, &issuer->num_keys, reason, sizeof(reason));
    free(text);
    if (added < 0)
        return sc_conf_error(r, at, key, "%s", reason);
    if (added == 0)
        return sc_conf_error(r, at, key, "%s: holds no signature key (keys for other uses and key types are skipped)",
                             issuer->jwks_file);
    return 0;
}

static int read_hmac(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, sc_jwt_issuer_t *issuer)
{
    char key[SC_CONF_KEY_MAX], reason[256], *text = NULL, *kid = NULL;
    const sc_yaml_node_t *at = sc_yaml_tree_get(map, "hmac_secret_file");
    size_t size = 0, len;
    int rc = -1;

    sc_conf_key(key, where, "hmac_secret_file");
    if (sc_conf_string(r, map, where, "hmac_kid", &kid) != 0)
        return -1;
    if (issuer->hmac_secret_file == NULL) {
        if (kid != NULL)
            sc_conf_error(r, sc_yaml_tree_get(map, "hmac_kid"), sc_conf_key(key, where, "hmac_kid"), "needs hmac_secret_file");
        else if ((issuer->algorithms & SC_JWS_ALGS_HMAC) != 0)
            sc_conf_error(r, sc_yaml_tree_get(map, "algorithms"), sc_conf_key(key, where, "algorithms"),
                          "%s needs hmac_secret_file",
                          sc_jwks_algs_format(issuer->algorithms & SC_JWS_ALGS_HMAC, reason, sizeof(reason)));
        else
            rc = 0;
        goto Exit;
    }
    if (sc_file_util_read(issuer->hmac_secret_file, SC_MAX_CONFIG_FILE_SIZE, &text, &size, reason, sizeof(reason)) != 0) {
        sc_conf_error(r, at, key, "%s", reason);
        goto Exit;
    }
    len = size;
    /* a key file named by mistake: whoever holds its public half could then mint tokens */
    if (looks_like_key_file(text, len)) {
        sc_conf_error(r, at, key, "%s: holds a PEM key or certificate, not a shared secret (use jwks_file for public keys)",
                      issuer->hmac_secret_file);
        goto Exit;
    }
    /* one trailing newline (LF or CRLF), as editors and `echo` leave it; everything else is the secret */
    if (len != 0 && text[len - 1] == '\n' && --len != 0 && text[len - 1] == '\r')
        --len;
    sc_jwk_t *grown = realloc(issuer->keys, (issuer->num_keys + 1) * sizeof(*grown));
    if (grown == NULL) {
        sc_conf_error(r, at, key, "out of memory");
        goto Exit;
    }
    issuer->keys = grown;
    if (sc_jwks_key_hmac_init(&grown[issuer->num_keys], (unsigned char *)text, len, kid, issuer->algorithms, reason,
                              sizeof(reason)) != 0) {
        sc_conf_error(r, at, key, "%s: %s", issuer->hmac_secret_file, reason);
        goto Exit;
    }
    ++issuer->num_keys;
    rc = 0;
Exit:
    if (text != NULL) {
        OPENSSL_cleanse(text, size);
        free(text);
    }
    free(kid);
    return rc;
}

/* A kid names one key of an issuer: two keys with one kid would make the choice the token's. */
static int check_kids(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, const sc_jwt_issuer_t *issuer)
{
    char key[SC_CONF_KEY_MAX];
    for (size_t i = 0; i != issuer->num_keys; ++i) {
        const sc_jwk_t *k = &issuer->keys[i];
        if (k->kid == NULL)
            continue;
        for (size_t j = 0; j != i; ++j) {
            if (issuer->keys[j].kid == NULL || strcmp(issuer->keys[j].kid, k->kid) != 0)
                continue;
            const char *name = k->type == SC_JWK_HMAC ? "hmac_kid" : "jwks_file";
            return sc_conf_error(r, sc_yaml_tree_get(map, name), sc_conf_key(key, where, name), "kid \"%s\" names two keys",
                                 k->kid);
        }
    }
    return 0;
}

static int read_issuer(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, sc_jwt_issuer_t *issuer)
{
    uint64_t leeway = SC_JWT_DEFAULT_LEEWAY_S;

    if (sc_conf_mapping(r, map, where, issuer_keys) != 0)
        return -1;
    issuer->line = map->line;
    if (sc_conf_require(r, map, where, "issuer") != 0 || sc_conf_string(r, map, where, "issuer", &issuer->issuer) != 0 ||
        read_audiences(r, map, where, issuer) != 0 || read_algorithms(r, map, where, &issuer->algorithms) != 0 ||
        sc_conf_uint(r, map, where, "leeway_s", 0, SC_JWT_MAX_LEEWAY_S, &leeway) != 0 ||
        sc_conf_string(r, map, where, "tenant_claim", &issuer->tenant_claim) != 0)
        return -1;
    issuer->leeway_s = (int64_t)leeway;
    if (issuer->tenant_claim == NULL && (issuer->tenant_claim = strdup(SC_JWT_DEFAULT_TENANT_CLAIM)) == NULL)
        return sc_conf_error(r, map, where, "out of memory");
    if (sc_conf_path(r, map, where, "jwks_file", &issuer->jwks_file) != 0 ||
        sc_conf_path(r, map, where, "hmac_secret_file", &issuer->hmac_secret_file) != 0)
        return -1;
    if (sc_jwt_issuer_tokens_load(r, map, where, issuer) != 0 || sc_jwks_remote_load(r, map, where, issuer) != 0)
        return -1;
    if (issuer->jwks_file == NULL && issuer->hmac_secret_file == NULL && issuer->remote == NULL)
        return sc_conf_error(r, map, where,
                             "needs jwks_file or hmac_secret_file, or keys from the provider (jwks_uri or discovery: true)");
    if (read_jwks(r, map, where, issuer) != 0 || read_hmac(r, map, where, issuer) != 0 || check_kids(r, map, where, issuer) != 0)
        return -1;
    return 0;
}

int sc_jwt_issuers_load(sc_conf_reader_t *r, const sc_yaml_node_t *list, const char *where, sc_jwt_issuers_t *out)
{
    char item[SC_CONF_KEY_MAX], key[SC_CONF_KEY_MAX];

    memset(out, 0, sizeof(*out));
    if (sc_yaml_tree_is_null(list))
        return 0;
    if (sc_conf_list(r, list, where) != 0)
        return -1;
    if (list->num_items == 0)
        return sc_conf_error(r, list, where, "must list at least one issuer (leave the key out to accept no JWT)");
    if ((out->items = calloc(list->num_items, sizeof(*out->items))) == NULL)
        return sc_conf_error(r, list, where, "out of memory");
    for (size_t i = 0; i != list->num_items; ++i) {
        ++out->count; /* counted first so that a partly read issuer is freed too */
        if (read_issuer(r, list->items[i], sc_conf_index(item, where, i), &out->items[i]) != 0)
            goto Error;
        for (size_t j = 0; j != i; ++j) {
            if (strcmp(out->items[j].issuer, out->items[i].issuer) == 0) {
                sc_conf_error(r, sc_yaml_tree_get(list->items[i], "issuer"), sc_conf_key(key, item, "issuer"),
                              "\"%s\" is already configured by %s[%zu]", out->items[i].issuer, where, j);
                goto Error;
            }
        }
    }
    return 0;
Error:
    sc_jwt_issuers_free(out);
    return -1;
}

int sc_jwt_issuers_load_string(const char *text, size_t len, const char *filename, sc_jwt_issuers_t *out, char *err, size_t errsize)
{
    sc_conf_reader_t r = {.file = filename, .err = err, .errsize = errsize};
    sc_yaml_node_t *root = sc_yaml_tree_parse_string(text, len, filename, err, errsize);
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (root == NULL)
        return -1;
    if (root->type != SC_YAML_MAPPING)
        sc_conf_error(&r, root, "", "must be a mapping, got %s", sc_yaml_tree_type_name(root->type));
    else
        rc = sc_jwt_issuers_load(&r, sc_yaml_tree_get(root, "jwt_issuers"), "jwt_issuers", out);
    sc_yaml_tree_free(root);
    return rc;
}

int sc_jwt_issuers_load_file(const char *path, sc_jwt_issuers_t *out, char *err, size_t errsize)
{
    char *text;
    size_t len;
    memset(out, 0, sizeof(*out));
    if (sc_file_util_read(path, SC_MAX_CONFIG_FILE_SIZE, &text, &len, err, errsize) != 0)
        return -1;
    int rc = sc_jwt_issuers_load_string(text, len, path, out, err, errsize);
    free(text);
    return rc;
}

void sc_jwt_issuers_free(sc_jwt_issuers_t *issuers)
{
    if (issuers == NULL)
        return;
    for (size_t i = 0; i != issuers->count; ++i) {
        sc_jwt_issuer_t *it = &issuers->items[i];
        free(it->issuer);
        sc_conf_free_strings(it->audiences, it->num_audiences);
        free(it->tenant_claim);
        sc_jwks_free(it->keys, it->num_keys);
        free(it->jwks_file);
        free(it->hmac_secret_file);
        sc_conf_free_strings(it->client_ids, it->num_client_ids);
        sc_conf_free_strings(it->scopes_claims, it->num_scopes_claims);
        sc_jwks_remote_free(it->remote);
    }
    free(issuers->items);
    memset(issuers, 0, sizeof(*issuers));
}
