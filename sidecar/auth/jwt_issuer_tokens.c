#include "jwt_issuer_tokens.h"

#include <stdlib.h>
#include <string.h>

/* Claims with a meaning of their own (RFC 7519, OpenID Connect, Cognito): never scopes. */
static const char *const not_scopes[] = {
    "iss",        "sub",       "aud",     "exp",     "nbf",    "iat",   "jti",      "client_id",        "azp",
    "token_use",  "auth_time", "nonce",   "at_hash", "c_hash", "email", "username", "cognito:username", "event_id",
    "origin_jti", "typ",       "version", NULL};

static int read_token_use(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, sc_jwt_issuer_t *issuer)
{
    char key[SC_CONF_KEY_MAX], *use = NULL;
    int rc = 0;
    if (sc_conf_string(r, map, where, "token_use", &use) != 0)
        return -1;
    if (use == NULL || strcmp(use, "any") == 0)
        issuer->token_use = SC_JWT_TOKEN_USE_ANY;
    else if (strcmp(use, "id") == 0)
        issuer->token_use = SC_JWT_TOKEN_USE_ID;
    else if (strcmp(use, "access") == 0)
        issuer->token_use = SC_JWT_TOKEN_USE_ACCESS;
    else
        rc = sc_conf_error(r, sc_yaml_tree_get(map, "token_use"), sc_conf_key(key, where, "token_use"),
                           "\"%s\": use id, access or any", use);
    free(use);
    return rc;
}

static int read_scopes_claims(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, sc_jwt_issuer_t *issuer)
{
    char key[SC_CONF_KEY_MAX], item[SC_CONF_KEY_MAX];
    const sc_yaml_node_t *node = sc_yaml_tree_get(map, "scopes_claims");
    if (node == NULL)
        return 0;
    sc_conf_key(key, where, "scopes_claims");
    if (sc_conf_strings(r, map, where, "scopes_claims", &issuer->scopes_claims, &issuer->num_scopes_claims) != 0)
        return -1;
    if (issuer->num_scopes_claims == 0 || issuer->num_scopes_claims > SC_JWT_MAX_SCOPES_CLAIMS)
        return sc_conf_error(r, node, key, "must list 1 to %d claims", SC_JWT_MAX_SCOPES_CLAIMS);
    for (size_t i = 0; i != issuer->num_scopes_claims; ++i) {
        const char *name = issuer->scopes_claims[i];
        const sc_yaml_node_t *at = node->type == SC_YAML_SEQUENCE ? node->items[i] : node;
        const char *k = node->type == SC_YAML_SEQUENCE ? sc_conf_index(item, key, i) : key;
        for (const char *const *n = not_scopes; *n != NULL; ++n)
            if (strcmp(*n, name) == 0)
                return sc_conf_error(r, at, k, "\"%s\" is a claim with a meaning of its own: it cannot hold scopes", name);
        if (strcmp(name, issuer->tenant_claim) == 0)
            return sc_conf_error(r, at, k, "\"%s\" is the tenant claim: it cannot hold scopes", name);
        for (size_t j = 0; j != i; ++j)
            if (strcmp(issuer->scopes_claims[j], name) == 0)
                return sc_conf_error(r, at, k, "\"%s\" is listed twice", name);
    }
    return 0;
}

int sc_jwt_issuer_tokens_load(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, sc_jwt_issuer_t *issuer)
{
    char key[SC_CONF_KEY_MAX];
    if (read_token_use(r, map, where, issuer) != 0 ||
        sc_conf_strings(r, map, where, "client_ids", &issuer->client_ids, &issuer->num_client_ids) != 0 ||
        read_scopes_claims(r, map, where, issuer) != 0)
        return -1;
    if (sc_yaml_tree_get(map, "client_ids") != NULL && issuer->num_client_ids == 0)
        return sc_conf_error(r, sc_yaml_tree_get(map, "client_ids"), sc_conf_key(key, where, "client_ids"),
                             "must list at least one client id");
    if (issuer->num_audiences == 0 && issuer->num_client_ids == 0)
        return sc_conf_error(r, map, where, "needs audiences (ID tokens) or client_ids (access tokens), or both");
    if (issuer->token_use == SC_JWT_TOKEN_USE_ACCESS && issuer->num_client_ids == 0)
        return sc_conf_error(r, sc_yaml_tree_get(map, "token_use"), sc_conf_key(key, where, "token_use"),
                             "access tokens are checked against client_ids: list them");
    if (issuer->token_use == SC_JWT_TOKEN_USE_ID && issuer->num_audiences == 0)
        return sc_conf_error(r, sc_yaml_tree_get(map, "token_use"), sc_conf_key(key, where, "token_use"),
                             "ID tokens are checked against audiences: list them");
    return 0;
}
