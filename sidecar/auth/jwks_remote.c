#include "jwks_remote.h"

#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *const dependent_keys[] = {
    "ca_file", "jwks_cache_file", "jwks_refresh_s", "jwks_min_refresh_s", "jwks_fetch_timeout_ms", NULL};

static int is_https(const char *url)
{
    return strncasecmp(url, "https://", 8) == 0 && url[8] != '\0' && url[8] != '/';
}

/* The cache file is written by renaming a temporary file in its directory: that must exist. */
static int check_cache_dir(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, const char *path)
{
    char key[SC_CONF_KEY_MAX], *copy = strdup(path);
    if (copy == NULL)
        return sc_conf_error(r, map, where, "out of memory");
    int ok = access(dirname(copy), W_OK | X_OK) == 0;
    free(copy);
    if (!ok)
        return sc_conf_error(r, sc_yaml_tree_get(map, "jwks_cache_file"), sc_conf_key(key, where, "jwks_cache_file"),
                             "%s: its directory does not exist or is not writable", path);
    return 0;
}

static int read_timings(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, sc_jwks_remote_t *rm)
{
    char key[SC_CONF_KEY_MAX];
    rm->refresh_s = SC_JWKS_DEFAULT_REFRESH_S;
    rm->min_refresh_s = SC_JWKS_DEFAULT_MIN_REFRESH_S;
    rm->fetch_timeout_ms = SC_JWKS_DEFAULT_FETCH_TIMEOUT_MS;
    if (sc_conf_uint(r, map, where, "jwks_refresh_s", 1, SC_JWKS_MAX_REFRESH_S, &rm->refresh_s) != 0 ||
        sc_conf_uint(r, map, where, "jwks_min_refresh_s", 1, 3600, &rm->min_refresh_s) != 0 ||
        sc_conf_uint(r, map, where, "jwks_fetch_timeout_ms", 100, 60000, &rm->fetch_timeout_ms) != 0)
        return -1;
    if (rm->min_refresh_s > rm->refresh_s && sc_yaml_tree_get(map, "jwks_min_refresh_s") != NULL)
        return sc_conf_error(r, sc_yaml_tree_get(map, "jwks_min_refresh_s"), sc_conf_key(key, where, "jwks_min_refresh_s"),
                             "must not exceed jwks_refresh_s (%llu)", (unsigned long long)rm->refresh_s);
    if (rm->min_refresh_s > rm->refresh_s)
        return sc_conf_error(r, sc_yaml_tree_get(map, "jwks_refresh_s"), sc_conf_key(key, where, "jwks_refresh_s"),
                             "must be at least jwks_min_refresh_s (%llu)", (unsigned long long)rm->min_refresh_s);
    return 0;
}

static int read_source(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, const sc_jwt_issuer_t *issuer,
                       sc_jwks_remote_t *rm)
{
    char key[SC_CONF_KEY_MAX];
    const sc_yaml_node_t *uri = sc_yaml_tree_get(map, "jwks_uri");
    if (sc_conf_string(r, map, where, "jwks_uri", &rm->jwks_uri) != 0)
        return -1;
    if (rm->jwks_uri != NULL && rm->discovery)
        return sc_conf_error(r, uri, sc_conf_key(key, where, "jwks_uri"), "give jwks_uri or discovery: true, not both");
    if (rm->jwks_uri != NULL && !is_https(rm->jwks_uri))
        return sc_conf_error(r, uri, sc_conf_key(key, where, "jwks_uri"), "\"%s\" is not an https:// URL", rm->jwks_uri);
    if (rm->discovery && !is_https(issuer->issuer))
        return sc_conf_error(r, sc_yaml_tree_get(map, "discovery"), sc_conf_key(key, where, "discovery"),
                             "needs an https:// issuer (its /.well-known/openid-configuration is read)");
    if (sc_conf_path(r, map, where, "ca_file", &rm->ca_file) != 0 ||
        sc_conf_path(r, map, where, "jwks_cache_file", &rm->cache_file) != 0)
        return -1;
    if (rm->ca_file != NULL && access(rm->ca_file, R_OK) != 0)
        return sc_conf_error(r, sc_yaml_tree_get(map, "ca_file"), sc_conf_key(key, where, "ca_file"), "%s: cannot be read",
                             rm->ca_file);
    if (rm->cache_file != NULL && check_cache_dir(r, map, where, rm->cache_file) != 0)
        return -1;
    return read_timings(r, map, where, rm);
}

int sc_jwks_remote_load(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, sc_jwt_issuer_t *issuer)
{
    char key[SC_CONF_KEY_MAX];
    int discovery = 0;

    if (sc_conf_bool(r, map, where, "discovery", &discovery) != 0)
        return -1;
    if (!discovery && sc_yaml_tree_get(map, "jwks_uri") == NULL) {
        for (const char *const *k = dependent_keys; *k != NULL; ++k)
            if (sc_yaml_tree_get(map, *k) != NULL)
                return sc_conf_error(r, sc_yaml_tree_get(map, *k), sc_conf_key(key, where, *k),
                                     "needs jwks_uri or discovery: true");
        return 0;
    }
    sc_jwks_remote_t *rm = calloc(1, sizeof(*rm));
    if (rm == NULL)
        return sc_conf_error(r, map, where, "out of memory");
    issuer->remote = rm; /* freed with the issuer, even when incomplete */
    rm->discovery = discovery;
    return read_source(r, map, where, issuer, rm);
}

static int same_str(const char *a, const char *b)
{
    return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

int sc_jwks_remote_same_source(const sc_jwks_remote_t *a, const sc_jwks_remote_t *b)
{
    return a->discovery == b->discovery && same_str(a->jwks_uri, b->jwks_uri) && same_str(a->ca_file, b->ca_file) &&
           same_str(a->cache_file, b->cache_file);
}

void sc_jwks_remote_free(sc_jwks_remote_t *remote)
{
    if (remote == NULL)
        return;
    free(remote->jwks_uri);
    free(remote->ca_file);
    free(remote->cache_file);
    free(remote);
}
