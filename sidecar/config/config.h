/*
 * config: the host file: which services this sidecar fronts, where it listens, and the policy of
 * each. Loaded and validated completely before anything listens (config.c); immutable and
 * shared by all worker threads afterwards.
 */
#ifndef SC_CONFIG_H
#define SC_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "identity.h"
#include "jwt.h"
#include "policy.h"
#include "redis_client.h"
#include "tenant_store.h"
#include "tls.h"
#include "trusted_proxies.h"

typedef struct sc_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    char *text; /* as configured, for logs */
} sc_addr_t;

typedef struct sc_service {
    char *name;
    sc_addr_t listen;
    char *upstream;    /* "http://IPv4:PORT": a host name is resolved once, at load */
    char *policy_file; /* resolved relative to the host file */
    sc_policy_t *policy;
    uint64_t timeout_ms; /* upstream I/O timeout */
    uint64_t max_body_bytes;
    uint64_t upstream_keepalive_ms; /* idle backend connections are closed after this */
    uint64_t upstream_max_idle;     /* idle backend connections kept per worker */
    sc_tls_config_t *tls;           /* NULL: plain HTTP */
    unsigned line;
} sc_service_t;

/* Pre-authentication failures (401s) allowed per client address and in total: token buckets. */
typedef struct sc_auth_failure_limit {
    uint64_t per_client_rate, per_client_burst; /* per second; burst: failures at once */
    uint64_t total_rate, total_burst;
} sc_auth_failure_limit_t;

typedef struct sc_config {
    int refcount; /* sc_config_retain / sc_config_release: a reload swaps configurations under live requests */
    char *file;
    unsigned threads;
    sc_addr_t admin_listen;
    uint64_t shutdown_grace_ms;
    uint64_t client_send_timeout_ms; /* a response write to a client making no progress this long closes it */
    sc_service_t *services;
    size_t num_services;
    sc_redis_config_t *redis;       /* NULL when no route needs credentials */
    sc_tenant_store_config_t store; /* the tenant cache, per worker */
    sc_jwt_issuers_t jwt_issuers;
    size_t jwt_cache_entries; /* verified tokens remembered per worker */
    char *access_log;         /* "-" for standard output, a path, or NULL for none */
    int metrics_per_tenant;   /* policy_sidecar_tenant_requests_total */
    size_t metrics_max_tenants;
    uint64_t max_connections; /* accepted connections at once, all services and workers */
    sc_auth_failure_limit_t auth_failures;
    sc_issuers_default_t tenant_issuers_default; /* JWT issuers of a tenant record without "issuers" */
    sc_trusted_proxies_t trusted_proxies;        /* whose X-Forwarded-* are believed; reloadable (per request) */
} sc_config_t;

/**
 * Loads a host file and every policy it names. Returns NULL with "file:line: key: reason" in
 * err; nothing is partly loaded.
 */
sc_config_t *sc_config_load_file(const char *path, char *err, size_t errsize);

/**
 * As sc_config_load_file, from memory; relative policy paths resolve against `filename`.
 */
sc_config_t *sc_config_load_string(const char *text, size_t len, const char *filename, char *err, size_t errsize);

void sc_config_free(sc_config_t *config);

/**
 * Reference counting (thread-safe). A loaded configuration starts with one reference; the last
 * release frees it.
 */
void sc_config_retain(sc_config_t *config);
void sc_config_release(sc_config_t *config);

/* The keys a host file may have, NULL-terminated (the loader refuses any other; the reload
 * test has a row for each). */
extern const char *const sc_config_host_keys[];

/**
 * Whether `next` can replace `current` without a restart: only policies, JWT issuers (and
 * their key files), tenant_issuers_default, TLS files and pins, trusted_proxies and
 * request_id_header may change; listeners, upstreams, limits of the h2o configuration, client
 * timeouts, Redis and caches are fixed at start. Returns 0, or -1 with the first difference in err.
 */
int sc_config_check_reloadable(const sc_config_t *current, const sc_config_t *next, char *err, size_t errsize);

/**
 * Parses "IPv4:PORT" or "[IPv6]:PORT". Returns 0, or -1 with a reason in err.
 */
int sc_config_addr_parse(const char *text, sc_addr_t *out, char *err, size_t errsize);

/**
 * The service with this name, or NULL.
 */
const sc_service_t *sc_config_find_service(const sc_config_t *config, const char *name);

#endif
