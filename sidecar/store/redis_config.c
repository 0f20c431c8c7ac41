#include "redis_config.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file_util.h"

#define DEFAULT_TIMEOUT_MS 50
#define DEFAULT_CONNECT_TIMEOUT_MS 1000
#define MAX_PASSWORD_BYTES 4096

static const char *const redis_keys[] = {"url",     "user", "password_file", "prefix", "timeout_ms", "connect_timeout_ms",
                                         "cluster", NULL};

static int resolve_host(const char *host, char *numeric, size_t size, char *err, size_t errsize)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int gai = getaddrinfo(host, NULL, &hints, &res);
    if (gai != 0 || res == NULL) {
        snprintf(err, errsize, "cannot resolve \"%s\" to an IPv4 address: %s", host, gai_strerror(gai));
        return -1;
    }
    inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, numeric, size);
    freeaddrinfo(res);
    return 0;
}

sc_redis_config_t *sc_redis_config_from_url(const char *url, char *err, size_t errsize)
{
    static const char scheme[] = "redis://";
    char host[256], numeric[INET_ADDRSTRLEN];
    unsigned long port = 6379, db = 0;
    const char *p = url + sizeof(scheme) - 1, *end;

    /* first, before any message quotes the URL: it may hold a password */
    if (strchr(url, '@') != NULL) {
        snprintf(err, errsize, "the Redis URL must not carry credentials: use user, password_file or %s", SC_REDIS_PASSWORD_ENV);
        return NULL;
    }
    if (strncmp(url, scheme, sizeof(scheme) - 1) != 0) {
        snprintf(err, errsize, "\"%s\" must start with redis://", url);
        return NULL;
    }
    size_t hostlen = strcspn(p, ":/");
    if (hostlen == 0 || hostlen >= sizeof(host))
        goto Bad;
    memcpy(host, p, hostlen);
    host[hostlen] = '\0';
    p += hostlen;
    if (*p == ':') {
        if (p[1] < '0' || p[1] > '9')
            goto Bad;
        port = strtoul(p + 1, (char **)&end, 10);
        if (end == p + 1 || port == 0 || port > 65535)
            goto Bad;
        p = end;
    }
    if (*p == '/' && p[1] != '\0') {
        if (p[1] < '0' || p[1] > '9')
            goto Bad;
        db = strtoul(p + 1, (char **)&end, 10);
        if (end == p + 1 || *end != '\0' || db > 1000)
            goto Bad;
        p = end;
    } else if (*p == '/') {
        ++p;
    }
    if (*p != '\0')
        goto Bad;
    if (resolve_host(host, numeric, sizeof(numeric), err, errsize) != 0)
        return NULL;

    sc_redis_config_t *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->url = strdup(url)) == NULL || (c->host = strdup(numeric)) == NULL ||
        (c->prefix = strdup(SC_REDIS_DEFAULT_PREFIX)) == NULL) {
        sc_redis_config_free(c);
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    c->port = (uint16_t)port;
    c->db = (unsigned)db;
    c->timeout_ms = DEFAULT_TIMEOUT_MS;
    c->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    return c;
Bad:
    snprintf(err, errsize, "\"%s\" is not redis://HOST[:PORT][/DB]", url);
    return NULL;
}

int sc_redis_config_load_password(sc_redis_config_t *c, const char *password_file, char *err, size_t errsize)
{
    char *text = NULL;
    size_t len;
    if (password_file != NULL) {
        if (sc_file_util_read(password_file, MAX_PASSWORD_BYTES, &text, &len, err, errsize) != 0)
            return -1;
        if (len > 0 && text[len - 1] == '\n')
            text[--len] = '\0';
        if (len > 0 && text[len - 1] == '\r')
            text[--len] = '\0';
        if (len == 0 || memchr(text, '\n', len) != NULL || memchr(text, '\0', len) != NULL) {
            OPENSSL_cleanse(text, len);
            free(text);
            snprintf(err, errsize, "%s: must hold the password on one line", password_file);
            return -1;
        }
    } else {
        const char *env = getenv(SC_REDIS_PASSWORD_ENV);
        if (env == NULL || env[0] == '\0')
            return 0;
        if ((text = strdup(env)) == NULL) {
            snprintf(err, errsize, "out of memory");
            return -1;
        }
    }
    if (c->password != NULL) {
        OPENSSL_cleanse(c->password, strlen(c->password));
        free(c->password);
    }
    c->password = text;
    return 0;
}

static int read_prefix(sc_conf_reader_t *r, const sc_yaml_node_t *node, const char *where, sc_redis_config_t *c)
{
    char key[SC_CONF_KEY_MAX];
    if (sc_conf_string(r, node, where, "prefix", &c->prefix) != 0)
        return -1;
    size_t len = strlen(c->prefix);
    if (len > SC_SCHEMA_PREFIX_MAX || strpbrk(c->prefix, "{} \t\r\n") != NULL)
        return sc_conf_error(r, sc_yaml_tree_get(node, "prefix"), sc_conf_key(key, where, "prefix"),
                             "must be at most %d characters without braces or spaces", SC_SCHEMA_PREFIX_MAX);
    return 0;
}

int sc_redis_config_read(sc_conf_reader_t *r, const sc_yaml_node_t *node, const char *where, sc_redis_config_t **out)
{
    char key[SC_CONF_KEY_MAX], reason[256];
    char *url = NULL, *password_file = NULL;
    sc_redis_config_t *c = NULL;
    int rc = -1;

    if (sc_yaml_tree_get(node, "password") != NULL)
        return sc_conf_error(r, sc_yaml_tree_get(node, "password"), sc_conf_key(key, where, "password"),
                             "passwords are never read from the configuration: use password_file or %s", SC_REDIS_PASSWORD_ENV);
    if (sc_conf_mapping(r, node, where, redis_keys) != 0 || sc_conf_require(r, node, where, "url") != 0 ||
        sc_conf_string(r, node, where, "url", &url) != 0)
        goto Exit;
    if ((c = sc_redis_config_from_url(url, reason, sizeof(reason))) == NULL) {
        sc_conf_error(r, sc_yaml_tree_get(node, "url"), sc_conf_key(key, where, "url"), "%s", reason);
        goto Exit;
    }
    if (sc_conf_string(r, node, where, "user", &c->user) != 0 || read_prefix(r, node, where, c) != 0 ||
        sc_conf_uint(r, node, where, "timeout_ms", 1, 60000, &c->timeout_ms) != 0 ||
        sc_conf_uint(r, node, where, "connect_timeout_ms", 1, 60000, &c->connect_timeout_ms) != 0 ||
        sc_conf_path(r, node, where, "password_file", &password_file) != 0 ||
        sc_conf_bool(r, node, where, "cluster", &c->cluster) != 0)
        goto Exit;
    if (c->cluster && c->db != 0) {
        sc_conf_error(r, sc_yaml_tree_get(node, "url"), sc_conf_key(key, where, "url"), "a Redis Cluster has database 0 only");
        goto Exit;
    }
    if (sc_redis_config_load_password(c, password_file, reason, sizeof(reason)) != 0) {
        sc_conf_error(r, sc_yaml_tree_get(node, "password_file"), sc_conf_key(key, where, "password_file"), "%s", reason);
        goto Exit;
    }
    *out = c;
    c = NULL;
    rc = 0;
Exit:
    sc_redis_config_free(c);
    free(url);
    free(password_file);
    return rc;
}

void sc_redis_config_free(sc_redis_config_t *config)
{
    if (config == NULL)
        return;
    if (config->password != NULL) {
        OPENSSL_cleanse(config->password, strlen(config->password));
        free(config->password);
    }
    free(config->url);
    free(config->host);
    free(config->user);
    free(config->prefix);
    free(config);
}
