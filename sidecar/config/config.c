#include "config.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf_placeholder.h"
#include "conf.h"
#include "log.h"
#include "file_util.h"
#include "jwt_issuers.h"
#include "policy_load.h"
#include "redis_config.h"
#include "text.h"
#include "yaml_tree.h"

/* Defaults, in one place. */
#define DEFAULT_ADMIN_LISTEN "127.0.0.1:9901"
/* Below API Gateway's 29 s integration timeout, so that a slow backend gets the sidecar's JSON 504
 * (with its request id and reason) rather than the gateway's own, which arrives at the same moment. */
#define DEFAULT_TIMEOUT_S 28
#define DEFAULT_MAX_BODY_BYTES (10 * 1024 * 1024)
#define DEFAULT_KEEPALIVE_MS 1000 /* shorter than common backend idle timeouts (gunicorn: 2 s) */
#define DEFAULT_MAX_IDLE 64       /* idle backend connections per worker and service */
#define DEFAULT_SHUTDOWN_GRACE_S 20
/* nginx's send_timeout: a response write to a client that makes no progress for this long */
#define DEFAULT_CLIENT_SEND_TIMEOUT_S 60
#define MAX_THREADS 64
#define DEFAULT_CACHE_TTL_S 60
#define DEFAULT_CACHE_NEGATIVE_TTL_S 5
#define DEFAULT_CACHE_MAX_STALE_S 300
#define DEFAULT_CACHE_MAX_ENTRIES 100000
#define DEFAULT_JWT_CACHE_ENTRIES 10000
/* Limits meant to stop an attacker, never a gateway's own traffic (which all comes from a few
 * addresses): see the README's "Limits" section. */
#define DEFAULT_MAX_CONNECTIONS 4096
#define DEFAULT_AUTH_FAILURES_PER_CLIENT_RATE 100
#define DEFAULT_AUTH_FAILURES_PER_CLIENT_BURST 1000
#define DEFAULT_AUTH_FAILURES_TOTAL_RATE 1000
#define DEFAULT_AUTH_FAILURES_TOTAL_BURST 5000
#define DEFAULT_METRICS_MAX_TENANTS 100

const char *const sc_config_host_keys[] = {"threads",
                                           "admin_listen",
                                           "shutdown_grace_s",
                                           "client_send_timeout_s",
                                           "services",
                                           "redis",
                                           "tenant_cache",
                                           "jwt_issuers",
                                           "jwt_cache_entries",
                                           "access_log",
                                           "metrics",
                                           "max_connections",
                                           "max_buffered_body_bytes",
                                           "auth_failure_limit",
                                           "tenant_issuers_default",
                                           "trusted_proxies",
                                           "request_id_header",
                                           NULL};
static const char *const auth_failure_keys[] = {"per_client_rate", "per_client_burst", "total_rate", "total_burst", NULL};
static const char *const metrics_keys[] = {"per_tenant", "max_tenants", NULL};
static const char *const cache_keys[] = {"ttl_s", "negative_ttl_s", "max_stale_s", "max_entries", "max_negative_entries", NULL};
static const char *const service_keys[] = {
    "name", "listen", "upstream", "policy", "timeout_s", "max_body_bytes", "upstream_keepalive_ms", "upstream_max_idle",
    "tls",  NULL};
static const char *const tls_keys[] = {"cert_file", "key_file", "client_ca_file", "client_subjects", "client_fingerprints_sha256",
                                       NULL};

int sc_config_addr_parse(const char *text, sc_addr_t *out, char *err, size_t errsize)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon = strrchr(text, ':');
    uint64_t port;

    memset(&out->ss, 0, sizeof(out->ss));
    if (colon == NULL || (size_t)(colon - text) >= sizeof(host) || sc_conf_parse_uint(colon + 1, &port) != 0 || port == 0 ||
        port > 65535) {
        snprintf(err, errsize, "\"%s\" is not IP:PORT", text);
        return -1;
    }
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    if (host[0] == '[') {
        size_t n = strlen(host);
        struct sockaddr_in6 *sin6 = (void *)&out->ss;
        if (n < 3 || host[n - 1] != ']')
            goto Bad;
        host[n - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &sin6->sin6_addr) != 1)
            goto Bad;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        out->len = sizeof(*sin6);
    } else {
        struct sockaddr_in *sin = (void *)&out->ss;
        if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
            goto Bad;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        out->len = sizeof(*sin);
    }
    return 0;
Bad:
    snprintf(err, errsize, "\"%s\": the address must be numeric, IPv4:PORT or [IPv6]:PORT", text);
    return -1;
}

static int read_addr(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, const char *name, sc_addr_t *addr)
{
    char key[SC_CONF_KEY_MAX], reason[256];
    if (sc_conf_string(r, map, where, name, &addr->text) != 0)
        return -1;
    if (addr->text == NULL) /* "listen:" with no value (found by fuzz_config) */
        return sc_conf_error(r, sc_yaml_tree_get(map, name), sc_conf_key(key, where, name), "needs an IP:PORT");
    if (sc_config_addr_parse(addr->text, addr, reason, sizeof(reason)) != 0)
        return sc_conf_error(r, sc_yaml_tree_get(map, name), sc_conf_key(key, where, name), "%s", reason);
    return 0;
}

/*
 * "http://HOST:PORT" with no path. The host is resolved here, once, so that no DNS lookup ever
 * happens on the request path; h2o then connects to the numeric address.
 */
static int read_upstream(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, sc_service_t *svc)
{
    char key[SC_CONF_KEY_MAX], host[256], numeric[INET_ADDRSTRLEN], *url = NULL;
    const sc_yaml_node_t *at = sc_yaml_tree_get(map, "upstream");
    uint64_t port;
    int rc = -1;

    sc_conf_key(key, where, "upstream");
    if (sc_conf_require(r, map, where, "upstream") != 0 || sc_conf_string(r, map, where, "upstream", &url) != 0)
        return -1;
    const char *hostport = url + sizeof("http://") - 1, *colon, *end;
    if (strncmp(url, "http://", sizeof("http://") - 1) != 0) {
        sc_conf_error(r, at, key, "\"%s\" must start with http:// (the backend is a local plain-HTTP port)", url);
        goto Exit;
    }
    end = hostport + strlen(hostport);
    if (end > hostport && end[-1] == '/')
        --end;
    colon = memchr(hostport, ':', (size_t)(end - hostport));
    if (colon == NULL || memchr(hostport, '/', (size_t)(end - hostport)) != NULL || colon == hostport ||
        (size_t)(colon - hostport) >= sizeof(host)) {
        sc_conf_error(r, at, key, "\"%s\" must be http://HOST:PORT, without a path", url);
        goto Exit;
    }
    char portstr[8] = {0};
    if ((size_t)(end - colon - 1) >= sizeof(portstr)) {
        sc_conf_error(r, at, key, "\"%s\": bad port", url);
        goto Exit;
    }
    memcpy(portstr, colon + 1, (size_t)(end - colon - 1));
    if (sc_conf_parse_uint(portstr, &port) != 0 || port == 0 || port > 65535) {
        sc_conf_error(r, at, key, "\"%s\": bad port", url);
        goto Exit;
    }
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';

    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int gai = getaddrinfo(host, NULL, &hints, &res);
    if (gai != 0 || res == NULL) {
        sc_conf_error(r, at, key, "cannot resolve \"%s\" to an IPv4 address: %s", host, gai_strerror(gai));
        goto Exit;
    }
    inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, numeric, sizeof(numeric));
    freeaddrinfo(res);
    size_t n = strlen(numeric) + 32;
    if ((svc->upstream = malloc(n)) == NULL) {
        sc_conf_error(r, at, key, "out of memory");
        goto Exit;
    }
    snprintf(svc->upstream, n, "http://%s:%u", numeric, (unsigned)port);
    rc = 0;
Exit:
    free(url);
    return rc;
}

static int read_service_name(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, sc_service_t *svc)
{
    char key[SC_CONF_KEY_MAX];
    if (sc_conf_require(r, map, where, "name") != 0 || sc_conf_string(r, map, where, "name", &svc->name) != 0)
        return -1;
    if (!sc_text_service_name_valid(svc->name, strlen(svc->name)))
        return sc_conf_error(r, sc_yaml_tree_get(map, "name"), sc_conf_key(key, where, "name"),
                             "\"%s\" must be 1 to 64 characters of a-z, 0-9, _ and -", svc->name);
    return 0;
}

static int read_policy(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, sc_service_t *svc)
{
    if (sc_conf_require(r, map, where, "policy") != 0 || sc_conf_path(r, map, where, "policy", &svc->policy_file) != 0)
        return -1;
    /* the policy's own errors name the policy file and its line */
    if ((svc->policy = sc_policy_load_file(svc->policy_file, r->err, r->errsize)) == NULL)
        return -1;
    return 0;
}

static int read_fingerprints(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, sc_tls_config_t *tls)
{
    char key[SC_CONF_KEY_MAX], **texts = NULL;
    size_t n = 0;
    int rc = 0;
    if (sc_conf_strings(r, map, where, "client_fingerprints_sha256", &texts, &n) != 0)
        return -1;
    if (n != 0 && (tls->client_fingerprints = calloc(n, 32)) == NULL)
        rc = sc_conf_error(r, map, where, "out of memory");
    for (size_t i = 0; i != n && rc == 0; ++i) {
        if (sc_tls_parse_fingerprint(texts[i], tls->client_fingerprints[i]) != 0)
            rc = sc_conf_error(r, sc_yaml_tree_get(map, "client_fingerprints_sha256"),
                               sc_conf_key(key, where, "client_fingerprints_sha256"), "\"%s\" is not a SHA-256 fingerprint",
                               texts[i]);
        tls->num_client_fingerprints = i + 1;
    }
    sc_conf_free_strings(texts, n);
    return rc;
}

/* tls: {cert_file, key_file, client_ca_file, client_subjects, client_fingerprints_sha256} */
static int read_tls(sc_conf_reader_t *r, const sc_yaml_node_t *service, const char *service_where, sc_service_t *svc)
{
    char where[SC_CONF_KEY_MAX], reason[512];
    const sc_yaml_node_t *map = sc_yaml_tree_get(service, "tls");
    if (map == NULL)
        return 0;
    sc_conf_key(where, service_where, "tls");
    if ((svc->tls = calloc(1, sizeof(*svc->tls))) == NULL)
        return sc_conf_error(r, map, where, "out of memory");
    if (sc_conf_mapping(r, map, where, tls_keys) != 0 || sc_conf_require(r, map, where, "cert_file") != 0 ||
        sc_conf_require(r, map, where, "key_file") != 0 || sc_conf_path(r, map, where, "cert_file", &svc->tls->cert_file) != 0 ||
        sc_conf_path(r, map, where, "key_file", &svc->tls->key_file) != 0 ||
        sc_conf_path(r, map, where, "client_ca_file", &svc->tls->client_ca_file) != 0 ||
        sc_conf_strings(r, map, where, "client_subjects", &svc->tls->client_subjects, &svc->tls->num_client_subjects) != 0 ||
        read_fingerprints(r, map, where, svc->tls) != 0)
        return -1;
    if (svc->tls->client_ca_file == NULL && (svc->tls->num_client_subjects != 0 || svc->tls->num_client_fingerprints != 0))
        return sc_conf_error(r, map, where, "client_subjects and client_fingerprints_sha256 need client_ca_file");
    if (sc_tls_build(svc->tls, reason, sizeof(reason)) != 0)
        return sc_conf_error(r, map, where, "%s", reason);
    return 0;
}

static int read_service(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, sc_service_t *svc)
{
    uint64_t timeout_s = DEFAULT_TIMEOUT_S;
    svc->line = map->line;
    svc->max_body_bytes = DEFAULT_MAX_BODY_BYTES;
    svc->upstream_keepalive_ms = DEFAULT_KEEPALIVE_MS;
    svc->upstream_max_idle = DEFAULT_MAX_IDLE;
    if (sc_conf_mapping(r, map, where, service_keys) != 0 || read_service_name(r, map, where, svc) != 0 ||
        sc_conf_require(r, map, where, "listen") != 0 || read_addr(r, map, where, "listen", &svc->listen) != 0 ||
        read_upstream(r, map, where, svc) != 0 || sc_conf_uint(r, map, where, "timeout_s", 1, 3600, &timeout_s) != 0 ||
        sc_conf_uint(r, map, where, "max_body_bytes", 0, (uint64_t)1 << 30, &svc->max_body_bytes) != 0 ||
        sc_conf_uint(r, map, where, "upstream_keepalive_ms", 0, 600000, &svc->upstream_keepalive_ms) != 0 ||
        sc_conf_uint(r, map, where, "upstream_max_idle", 0, 10000, &svc->upstream_max_idle) != 0 ||
        read_tls(r, map, where, svc) != 0 || read_policy(r, map, where, svc) != 0)
        return -1;
    svc->timeout_ms = timeout_s * 1000;
    return 0;
}

static int same_addr(const sc_addr_t *a, const sc_addr_t *b)
{
    return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

/* Two services cannot share a name or a port, nor take the admin port. */
static int check_unique(sc_conf_reader_t *r, const sc_yaml_node_t *list, sc_config_t *c)
{
    char key[SC_CONF_KEY_MAX], where[SC_CONF_KEY_MAX];
    for (size_t i = 0; i != c->num_services; ++i) {
        const sc_service_t *s = &c->services[i];
        sc_conf_index(where, "services", i);
        if (same_addr(&s->listen, &c->admin_listen))
            return sc_conf_error(r, list->items[i], sc_conf_key(key, where, "listen"), "%s is also the admin_listen address",
                                 s->listen.text);
        for (size_t j = 0; j != i; ++j) {
            if (strcmp(s->name, c->services[j].name) == 0)
                return sc_conf_error(r, list->items[i], sc_conf_key(key, where, "name"), "\"%s\" is already used by services[%zu]",
                                     s->name, j);
            if (same_addr(&s->listen, &c->services[j].listen))
                return sc_conf_error(r, list->items[i], sc_conf_key(key, where, "listen"), "%s is already used by services[%zu]",
                                     s->listen.text, j);
        }
    }
    return 0;
}

static int read_services(sc_conf_reader_t *r, const sc_yaml_node_t *root, sc_config_t *c)
{
    char where[SC_CONF_KEY_MAX];
    const sc_yaml_node_t *list = sc_yaml_tree_get(root, "services");
    if (sc_conf_require(r, root, "", "services") != 0 || sc_conf_list(r, list, "services") != 0)
        return -1;
    if (list->num_items == 0)
        return sc_conf_error(r, list, "services", "must list at least one service");
    if ((c->services = calloc(list->num_items, sizeof(*c->services))) == NULL)
        return sc_conf_error(r, list, "services", "out of memory");
    for (size_t i = 0; i != list->num_items; ++i) {
        ++c->num_services; /* counted first so that a partly read service is freed too */
        if (read_service(r, list->items[i], sc_conf_index(where, "services", i), &c->services[i]) != 0)
            return -1;
    }
    return check_unique(r, list, c);
}

static int read_tenant_cache(sc_conf_reader_t *r, const sc_yaml_node_t *root, sc_config_t *c)
{
    const sc_yaml_node_t *node = sc_yaml_tree_get(root, "tenant_cache");
    uint64_t ttl = DEFAULT_CACHE_TTL_S, negative = DEFAULT_CACHE_NEGATIVE_TTL_S, stale = DEFAULT_CACHE_MAX_STALE_S,
             entries = DEFAULT_CACHE_MAX_ENTRIES, negative_entries = 0;
    if (node != NULL && (sc_conf_mapping(r, node, "tenant_cache", cache_keys) != 0 ||
                         sc_conf_uint(r, node, "tenant_cache", "ttl_s", 1, 3600, &ttl) != 0 ||
                         sc_conf_uint(r, node, "tenant_cache", "negative_ttl_s", 1, 3600, &negative) != 0 ||
                         sc_conf_uint(r, node, "tenant_cache", "max_stale_s", 0, 86400, &stale) != 0 ||
                         sc_conf_uint(r, node, "tenant_cache", "max_entries", 16, 10000000, &entries) != 0 ||
                         sc_conf_uint(r, node, "tenant_cache", "max_negative_entries", 16, 10000000, &negative_entries) != 0))
        return -1;
    if (negative_entries == 0) /* not set: a quarter of the records, kept apart (see tenant_store.h) */
        negative_entries = entries / 4 > 16 ? entries / 4 : 16;
    if (stale != 0 && stale < ttl)
        return sc_conf_error(r, sc_yaml_tree_get(node, "max_stale_s"), "tenant_cache.max_stale_s",
                             "must be 0 or at least ttl_s (%llu)", (unsigned long long)ttl);
    c->store = (sc_tenant_store_config_t){ttl * 1000, negative * 1000, stale * 1000, (size_t)entries, (size_t)negative_entries};
    return 0;
}

/* tenant_issuers_default: any (every configured issuer; the default) or none */
static int read_issuers_default(sc_conf_reader_t *r, const sc_yaml_node_t *root, sc_config_t *c)
{
    char *v = NULL;
    int rc = 0;
    if (sc_conf_string(r, root, "", "tenant_issuers_default", &v) != 0)
        return -1;
    if (v == NULL || strcmp(v, "any") == 0)
        c->tenant_issuers_default = SC_ISSUERS_DEFAULT_ANY;
    else if (strcmp(v, "none") == 0)
        c->tenant_issuers_default = SC_ISSUERS_DEFAULT_NONE;
    else
        rc = sc_conf_error(r, sc_yaml_tree_get(root, "tenant_issuers_default"), "tenant_issuers_default",
                           "unknown value \"%s\" (use any or none)", v);
    free(v);
    return rc;
}

static int read_identity(sc_conf_reader_t *r, const sc_yaml_node_t *root, sc_config_t *c)
{
    const sc_yaml_node_t *redis = sc_yaml_tree_get(root, "redis"), *issuers = sc_yaml_tree_get(root, "jwt_issuers");
    uint64_t jwt_cache = DEFAULT_JWT_CACHE_ENTRIES;
    if (redis != NULL && sc_redis_config_read(r, redis, "redis", &c->redis) != 0)
        return -1;
    if (issuers != NULL && sc_jwt_issuers_load(r, issuers, "jwt_issuers", &c->jwt_issuers) != 0)
        return -1;
    if (sc_conf_uint(r, root, "", "jwt_cache_entries", 0, 10000000, &jwt_cache) != 0)
        return -1;
    c->jwt_cache_entries = (size_t)jwt_cache;
    if (read_issuers_default(r, root, c) != 0)
        return -1;
    return read_tenant_cache(r, root, c);
}

/* Routes that need credentials need somewhere to check them: refused now, not at request time. */
/* A policy audience no issuer lists would refuse every token: a mistake, found now. */
static int audience_listed(const sc_config_t *c, const char *audience)
{
    for (size_t i = 0; i != c->jwt_issuers.count; ++i)
        for (size_t j = 0; j != c->jwt_issuers.items[i].num_audiences; ++j)
            if (strcmp(c->jwt_issuers.items[i].audiences[j], audience) == 0)
                return 1;
    return 0;
}

static int check_identity_sources(sc_conf_reader_t *r, const sc_yaml_node_t *root, const sc_config_t *c)
{
    char key[SC_CONF_KEY_MAX];
    for (size_t i = 0; i != c->num_services; ++i) {
        const sc_policy_t *p = c->services[i].policy;
        for (size_t k = 0; k != p->num_audiences; ++k)
            if (!audience_listed(c, p->audiences[k]))
                return sc_conf_error(r, sc_yaml_tree_get(root, "services"), sc_conf_index(key, "services", i),
                                     "%s: audiences: \"%s\" is not an audience of any jwt_issuers entry", p->file, p->audiences[k]);
        if (p->rate_limit.mode == SC_RATELIMIT_REDIS && c->redis == NULL)
            return sc_conf_error(r, sc_yaml_tree_get(root, "services"), sc_conf_index(key, "services", i),
                                 "%s: rate_limit.mode redis needs the redis section", p->file);
        for (size_t j = 0; j != p->num_routes; ++j) {
            const sc_route_t *route = &p->routes[j];
            if (route->auth != 0 && c->redis == NULL)
                return sc_conf_error(r, sc_yaml_tree_get(root, "services"), sc_conf_index(key, "services", i),
                                     "%s:%u: route %s requires credentials: configure redis (tenant records live there)", p->file,
                                     route->line, route->path);
            if ((route->auth & SC_AUTH_JWT) != 0 && c->jwt_issuers.count == 0 && route->auth == SC_AUTH_JWT)
                return sc_conf_error(r, sc_yaml_tree_get(root, "services"), sc_conf_index(key, "services", i),
                                     "%s:%u: route %s accepts only JWTs but jwt_issuers is empty", p->file, route->line,
                                     route->path);
        }
    }
    return 0;
}

/* access_log: "-" (standard output, the default), a file, or off */
static int read_observability(sc_conf_reader_t *r, const sc_yaml_node_t *root, sc_config_t *c)
{
    const sc_yaml_node_t *metrics = sc_yaml_tree_get(root, "metrics");
    uint64_t max_tenants = DEFAULT_METRICS_MAX_TENANTS;
    if ((c->access_log = strdup("-")) == NULL || sc_conf_string(r, root, "", "access_log", &c->access_log) != 0)
        return -1;
    if (strcmp(c->access_log, "off") == 0) {
        free(c->access_log);
        c->access_log = NULL;
    } else if (strcmp(c->access_log, "-") != 0) {
        char *resolved = sc_file_util_resolve(r->file, c->access_log);
        free(c->access_log);
        if ((c->access_log = resolved) == NULL)
            return sc_conf_error(r, root, "access_log", "out of memory");
    }
    if (metrics != NULL && (sc_conf_mapping(r, metrics, "metrics", metrics_keys) != 0 ||
                            sc_conf_bool(r, metrics, "metrics", "per_tenant", &c->metrics_per_tenant) != 0 ||
                            sc_conf_uint(r, metrics, "metrics", "max_tenants", 1, 10000, &max_tenants) != 0))
        return -1;
    c->metrics_max_tenants = c->metrics_per_tenant ? (size_t)max_tenants : 0;
    return 0;
}

/* max_buffered_body_bytes capped the bodies libh2o's server read whole before any handler ran;
 * bodies are streamed now (http1_server.h). An old configuration still starts: the value is
 * checked as before, and the operator told it does nothing. */
static int read_obsolete_limits(sc_conf_reader_t *r, const sc_yaml_node_t *root)
{
    uint64_t unused;
    const sc_yaml_node_t *node = sc_yaml_tree_get(root, "max_buffered_body_bytes");
    if (node == NULL)
        return 0;
    if (sc_conf_uint(r, root, "", "max_buffered_body_bytes", 1, (uint64_t)1 << 40, &unused) != 0)
        return -1;
    sc_log_warn("%s:%u: max_buffered_body_bytes is ignored: request bodies are streamed to the backend, at most %d KiB "
                "held per request; remove the key",
                r->file, node->line, 128);
    return 0;
}

/* max_connections and auth_failure_limit: bounds on what anyone can make the sidecar hold or
 * compute before knowing who they are. */
static int read_limits(sc_conf_reader_t *r, const sc_yaml_node_t *root, sc_config_t *c)
{
    const sc_yaml_node_t *af = sc_yaml_tree_get(root, "auth_failure_limit");
    sc_auth_failure_limit_t *l = &c->auth_failures;
    c->max_connections = DEFAULT_MAX_CONNECTIONS;
    *l = (sc_auth_failure_limit_t){DEFAULT_AUTH_FAILURES_PER_CLIENT_RATE, DEFAULT_AUTH_FAILURES_PER_CLIENT_BURST,
                                   DEFAULT_AUTH_FAILURES_TOTAL_RATE, DEFAULT_AUTH_FAILURES_TOTAL_BURST};
    if (sc_conf_uint(r, root, "", "max_connections", 1, 1000000, &c->max_connections) != 0 || read_obsolete_limits(r, root) != 0)
        return -1;
    if (af != NULL && (sc_conf_mapping(r, af, "auth_failure_limit", auth_failure_keys) != 0 ||
                       sc_conf_uint(r, af, "auth_failure_limit", "per_client_rate", 1, 1000000, &l->per_client_rate) != 0 ||
                       sc_conf_uint(r, af, "auth_failure_limit", "per_client_burst", 1, 10000000, &l->per_client_burst) != 0 ||
                       sc_conf_uint(r, af, "auth_failure_limit", "total_rate", 1, 1000000, &l->total_rate) != 0 ||
                       sc_conf_uint(r, af, "auth_failure_limit", "total_burst", 1, 10000000, &l->total_burst) != 0))
        return -1;
    return 0;
}

/* client_cert: true trusts connections whose handshake verified a client certificate: some
 * listener must ask for one, or the setting would silently trust nobody. */
static int check_trusted_proxies(sc_conf_reader_t *r, const sc_yaml_node_t *root, const sc_config_t *c)
{
    if (!c->trusted_proxies.client_cert)
        return 0;
    for (size_t i = 0; i != c->num_services; ++i)
        if (c->services[i].tls != NULL && c->services[i].tls->client_ca_file != NULL)
            return 0;
    return sc_conf_error(r, sc_yaml_tree_get(sc_yaml_tree_get(root, "trusted_proxies"), "client_cert"),
                         "trusted_proxies.client_cert", "no service asks for client certificates (tls.client_ca_file)");
}

static int read_host(sc_conf_reader_t *r, const sc_yaml_node_t *root, sc_config_t *c)
{
    char reason[256];
    uint64_t threads = 0, grace_s = DEFAULT_SHUTDOWN_GRACE_S, send_timeout_s = DEFAULT_CLIENT_SEND_TIMEOUT_S;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    if (sc_conf_mapping(r, root, "", sc_config_host_keys) != 0 ||
        sc_conf_uint(r, root, "", "threads", 1, MAX_THREADS, &threads) != 0 ||
        sc_conf_uint(r, root, "", "shutdown_grace_s", 0, 3600, &grace_s) != 0 ||
        sc_conf_uint(r, root, "", "client_send_timeout_s", 1, 3600, &send_timeout_s) != 0)
        return -1;
    c->threads = threads != 0 ? (unsigned)threads : (unsigned)(ncpu < 1 ? 1 : ncpu > MAX_THREADS ? MAX_THREADS : ncpu);
    c->shutdown_grace_ms = grace_s * 1000;
    c->client_send_timeout_ms = send_timeout_s * 1000;
    if (sc_yaml_tree_get(root, "admin_listen") != NULL) {
        if (read_addr(r, root, "", "admin_listen", &c->admin_listen) != 0)
            return -1;
    } else if ((c->admin_listen.text = strdup(DEFAULT_ADMIN_LISTEN)) == NULL ||
               sc_config_addr_parse(c->admin_listen.text, &c->admin_listen, reason, sizeof(reason)) != 0) {
        return sc_conf_error(r, root, "admin_listen", "out of memory");
    }
    if (read_identity(r, root, c) != 0 || read_observability(r, root, c) != 0 || read_limits(r, root, c) != 0 ||
        sc_trusted_proxies_read(r, root, &c->trusted_proxies) != 0 || read_services(r, root, c) != 0 ||
        check_trusted_proxies(r, root, c) != 0)
        return -1;
    return check_identity_sources(r, root, c);
}

sc_config_t *sc_config_load_string(const char *text, size_t len, const char *filename, char *err, size_t errsize)
{
    sc_conf_reader_t r = {.file = filename, .err = err, .errsize = errsize};
    sc_yaml_node_t *root = sc_yaml_tree_parse_string(text, len, filename, err, errsize);
    sc_config_t *c = calloc(1, sizeof(*c));

    if (root == NULL || c == NULL)
        goto Error;
    c->refcount = 1;
    if ((c->file = strdup(filename)) == NULL || sc_conf_placeholder_refuse(&r, root) != 0 || read_host(&r, root, c) != 0)
        goto Error;
    sc_yaml_tree_free(root);
    return c;
Error:
    if (c == NULL)
        snprintf(err, errsize, "%s: out of memory", filename);
    sc_yaml_tree_free(root);
    sc_config_free(c);
    return NULL;
}

sc_config_t *sc_config_load_file(const char *path, char *err, size_t errsize)
{
    char *text;
    size_t len;
    if (sc_file_util_read(path, SC_MAX_CONFIG_FILE_SIZE, &text, &len, err, errsize) != 0)
        return NULL;
    sc_config_t *c = sc_config_load_string(text, len, path, err, errsize);
    free(text);
    return c;
}

void sc_config_free(sc_config_t *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i != c->num_services; ++i) {
        sc_service_t *s = &c->services[i];
        free(s->name);
        free(s->listen.text);
        free(s->upstream);
        free(s->policy_file);
        sc_policy_free(s->policy);
        sc_tls_config_free(s->tls);
    }
    free(c->services);
    sc_redis_config_free(c->redis);
    sc_jwt_issuers_free(&c->jwt_issuers);
    free(c->access_log);
    sc_trusted_proxies_clear(&c->trusted_proxies);
    free(c->admin_listen.text);
    free(c->file);
    free(c);
}

const sc_service_t *sc_config_find_service(const sc_config_t *c, const char *name)
{
    for (size_t i = 0; i != c->num_services; ++i)
        if (strcmp(c->services[i].name, name) == 0)
            return &c->services[i];
    return NULL;
}

void sc_config_retain(sc_config_t *c)
{
    __atomic_add_fetch(&c->refcount, 1, __ATOMIC_RELAXED);
}

void sc_config_release(sc_config_t *c)
{
    if (c != NULL && __atomic_sub_fetch(&c->refcount, 1, __ATOMIC_ACQ_REL) == 0)
        sc_config_free(c);
}

/* ------------------------------------------------------------------ reload */

static int str_differs(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

static int redis_differs(const sc_redis_config_t *a, const sc_redis_config_t *b)
{
    if (a == NULL || b == NULL)
        return a != b;
    return str_differs(a->url, b->url) || str_differs(a->user, b->user) || str_differs(a->password, b->password) ||
           str_differs(a->prefix, b->prefix) || a->timeout_ms != b->timeout_ms || a->connect_timeout_ms != b->connect_timeout_ms ||
           a->cluster != b->cluster;
}

#define REFUSE(...)                                                                                                                \
    do {                                                                                                                           \
        snprintf(err, errsize, __VA_ARGS__);                                                                                       \
        return -1;                                                                                                                 \
    } while (0)

int sc_config_check_reloadable(const sc_config_t *cur, const sc_config_t *next, char *err, size_t errsize)
{
    if (cur->threads != next->threads || !same_addr(&cur->admin_listen, &next->admin_listen) ||
        cur->shutdown_grace_ms != next->shutdown_grace_ms)
        REFUSE("%s: threads, admin_listen and shutdown_grace_s need a restart", next->file);
    /* each worker's timer list has one duration, set when the worker starts (worker.c) */
    if (cur->client_send_timeout_ms != next->client_send_timeout_ms)
        REFUSE("%s: client_send_timeout_s needs a restart", next->file);
    if (redis_differs(cur->redis, next->redis) || memcmp(&cur->store, &next->store, sizeof(cur->store)) != 0)
        REFUSE("%s: the redis and tenant_cache sections need a restart", next->file);
    if (str_differs(cur->access_log, next->access_log) || cur->metrics_per_tenant != next->metrics_per_tenant ||
        cur->metrics_max_tenants != next->metrics_max_tenants || cur->jwt_cache_entries != next->jwt_cache_entries)
        REFUSE("%s: access_log, metrics and jwt_cache_entries need a restart", next->file);
    if (cur->max_connections != next->max_connections ||
        memcmp(&cur->auth_failures, &next->auth_failures, sizeof(cur->auth_failures)) != 0)
        REFUSE("%s: max_connections and auth_failure_limit need a restart", next->file);
    if (cur->num_services != next->num_services)
        REFUSE("%s: adding or removing services needs a restart", next->file);
    for (size_t i = 0; i != cur->num_services; ++i) {
        const sc_service_t *a = &cur->services[i], *b = &next->services[i];
        if (strcmp(a->name, b->name) != 0 || !same_addr(&a->listen, &b->listen) || strcmp(a->upstream, b->upstream) != 0 ||
            a->timeout_ms != b->timeout_ms || a->max_body_bytes != b->max_body_bytes ||
            a->upstream_keepalive_ms != b->upstream_keepalive_ms || a->upstream_max_idle != b->upstream_max_idle ||
            (a->tls == NULL) != (b->tls == NULL))
            REFUSE("%s:%u: services[%zu] (%s): name, listen, upstream, timeout_s, max_body_bytes, upstream_keepalive_ms, "
                   "upstream_max_idle and "
                   "turning tls on or off need a restart; its policy and its tls files and pins reload",
                   next->file, b->line, i, b->name);
    }
    return 0;
}
