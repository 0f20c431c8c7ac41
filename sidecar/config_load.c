#include "config.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf_reader.h"
#include "file_util.h"
#include "policy_load.h"
#include "yaml_tree.h"

/* Defaults, in one place. */
#define DEFAULT_ADMIN_LISTEN "127.0.0.1:9901"
#define DEFAULT_TIMEOUT_S 29 /* API Gateway gives up on an integration after 29 s */
#define DEFAULT_MAX_BODY_BYTES (10 * 1024 * 1024)
#define DEFAULT_KEEPALIVE_MS 1000 /* shorter than common backend idle timeouts (gunicorn: 2 s) */
#define DEFAULT_SHUTDOWN_GRACE_S 20
#define MAX_THREADS 64

static const char *const host_keys[] = {"threads", "admin_listen", "shutdown_grace_s", "services", NULL};
static const char *const service_keys[] = {
    "name", "listen", "upstream", "policy", "timeout_s", "max_body_bytes", "upstream_keepalive_ms", NULL};

int sc_addr_parse(const char *text, sc_addr_t *out, char *err, size_t errsize)
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
    if (sc_addr_parse(addr->text, addr, reason, sizeof(reason)) != 0)
        return sc_conf_error(r, sc_yaml_get(map, name), sc_conf_key(key, where, name), "%s", reason);
    return 0;
}

/*
 * "http://HOST:PORT" with no path. The host is resolved here, once, so that no DNS lookup ever
 * happens on the request path; h2o then connects to the numeric address.
 */
static int read_upstream(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, sc_service_t *svc)
{
    char key[SC_CONF_KEY_MAX], host[256], numeric[INET_ADDRSTRLEN], *url = NULL;
    const sc_yaml_node_t *at = sc_yaml_get(map, "upstream");
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
    size_t len = strlen(svc->name);
    if (len > 64 || strspn(svc->name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != len)
        return sc_conf_error(r, sc_yaml_get(map, "name"), sc_conf_key(key, where, "name"),
                             "\"%s\" must be 1 to 64 characters of a-z, 0-9, _ and -", svc->name);
    return 0;
}

static int read_policy(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, sc_service_t *svc)
{
    char key[SC_CONF_KEY_MAX], *rel = NULL;
    if (sc_conf_require(r, map, where, "policy") != 0 || sc_conf_string(r, map, where, "policy", &rel) != 0)
        return -1;
    svc->policy_file = sc_path_resolve(r->file, rel);
    free(rel);
    if (svc->policy_file == NULL)
        return sc_conf_error(r, map, sc_conf_key(key, where, "policy"), "out of memory");
    /* the policy's own errors name the policy file and its line */
    if ((svc->policy = sc_policy_load_file(svc->policy_file, r->err, r->errsize)) == NULL)
        return -1;
    return 0;
}

static int read_service(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, sc_service_t *svc)
{
    uint64_t timeout_s = DEFAULT_TIMEOUT_S;
    svc->line = map->line;
    svc->max_body_bytes = DEFAULT_MAX_BODY_BYTES;
    svc->upstream_keepalive_ms = DEFAULT_KEEPALIVE_MS;
    if (sc_conf_mapping(r, map, where, service_keys) != 0 || read_service_name(r, map, where, svc) != 0 ||
        sc_conf_require(r, map, where, "listen") != 0 || read_addr(r, map, where, "listen", &svc->listen) != 0 ||
        read_upstream(r, map, where, svc) != 0 || sc_conf_uint(r, map, where, "timeout_s", 1, 3600, &timeout_s) != 0 ||
        sc_conf_uint(r, map, where, "max_body_bytes", 0, (uint64_t)1 << 30, &svc->max_body_bytes) != 0 ||
        sc_conf_uint(r, map, where, "upstream_keepalive_ms", 0, 600000, &svc->upstream_keepalive_ms) != 0 ||
        read_policy(r, map, where, svc) != 0)
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
    const sc_yaml_node_t *list = sc_yaml_get(root, "services");
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

static int read_host(sc_conf_reader_t *r, const sc_yaml_node_t *root, sc_config_t *c)
{
    char reason[256];
    uint64_t threads = 0, grace_s = DEFAULT_SHUTDOWN_GRACE_S;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    if (sc_conf_mapping(r, root, "", host_keys) != 0 || sc_conf_uint(r, root, "", "threads", 1, MAX_THREADS, &threads) != 0 ||
        sc_conf_uint(r, root, "", "shutdown_grace_s", 0, 3600, &grace_s) != 0)
        return -1;
    c->threads = threads != 0 ? (unsigned)threads : (unsigned)(ncpu < 1 ? 1 : ncpu > MAX_THREADS ? MAX_THREADS : ncpu);
    c->shutdown_grace_ms = grace_s * 1000;
    if (sc_yaml_get(root, "admin_listen") != NULL) {
        if (read_addr(r, root, "", "admin_listen", &c->admin_listen) != 0)
            return -1;
    } else if ((c->admin_listen.text = strdup(DEFAULT_ADMIN_LISTEN)) == NULL ||
               sc_addr_parse(c->admin_listen.text, &c->admin_listen, reason, sizeof(reason)) != 0) {
        return sc_conf_error(r, root, "admin_listen", "out of memory");
    }
    return read_services(r, root, c);
}

sc_config_t *sc_config_load_string(const char *text, size_t len, const char *filename, char *err, size_t errsize)
{
    sc_conf_reader_t r = {.file = filename, .err = err, .errsize = errsize};
    sc_yaml_node_t *root = sc_yaml_parse_string(text, len, filename, err, errsize);
    sc_config_t *c = calloc(1, sizeof(*c));

    if (root == NULL || c == NULL)
        goto Error;
    if ((c->file = strdup(filename)) == NULL || read_host(&r, root, c) != 0)
        goto Error;
    sc_yaml_free(root);
    return c;
Error:
    if (c == NULL)
        snprintf(err, errsize, "%s: out of memory", filename);
    sc_yaml_free(root);
    sc_config_free(c);
    return NULL;
}

sc_config_t *sc_config_load_file(const char *path, char *err, size_t errsize)
{
    char *text;
    size_t len;
    if (sc_read_file(path, SC_MAX_CONFIG_FILE_SIZE, &text, &len, err, errsize) != 0)
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
    }
    free(c->services);
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
