/*
 * redis_config: where Redis is and how to log in, shared by the sidecar (the host file's
 * `redis:` section) and sidecarctl (--redis URL, SIDECAR_REDIS_URL or -c FILE).
 *
 * The password never comes from YAML or a URL: it is read from password_file, or from the
 * SIDECAR_REDIS_PASSWORD environment variable.
 */
#ifndef SC_REDIS_CONFIG_H
#define SC_REDIS_CONFIG_H

#include <stdint.h>

#include "conf.h"
#include "schema.h"

#define SC_REDIS_PASSWORD_ENV "SIDECAR_REDIS_PASSWORD"
#define SC_REDIS_DEFAULT_PREFIX "ps:"

typedef struct sc_redis_config {
    char *url;  /* as configured, for logs (never contains a password) */
    char *host; /* numeric, resolved at load */
    uint16_t port;
    unsigned db;
    char *user;     /* NULL: the default user */
    char *password; /* NULL: no AUTH; a secret, wiped on free */
    char *prefix;   /* of every key, e.g. "ps:" */
    uint64_t timeout_ms;
    uint64_t connect_timeout_ms;
    int cluster; /* 1: url is a seed node of a Redis Cluster (redis_cluster.h); database 0 only */
} sc_redis_config_t;

/**
 * Parses redis://HOST[:PORT][/DB] into a new config with defaults (prefix "ps:", timeout 50 ms,
 * connect timeout 1000 ms). The host is resolved now, once. A URL carrying credentials is
 * refused. Returns NULL with a reason in err.
 */
sc_redis_config_t *sc_redis_config_from_url(const char *url, char *err, size_t errsize);

/**
 * Reads the password from `password_file` (one trailing newline stripped) when it is not NULL,
 * else from SIDECAR_REDIS_PASSWORD when set. Returns 0 or -1 with a reason in err.
 */
int sc_redis_config_load_password(sc_redis_config_t *config, const char *password_file, char *err, size_t errsize);

/**
 * Reads the host file's `redis:` mapping. Returns 0 or -1 (error in the reader).
 */
int sc_redis_config_read(sc_conf_reader_t *r, const sc_yaml_node_t *node, const char *where, sc_redis_config_t **out);

void sc_redis_config_free(sc_redis_config_t *config);

#endif
