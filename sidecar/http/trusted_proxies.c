#include "trusted_proxies.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "headers.h"

#define MAX_HEADER_NAME 64

static const char *const keys[] = {"cidrs", "client_cert", NULL};

/* Headers that carry credentials: never copied into the access log. */
static const char *const secret_headers[] = {"authorization", "proxy-authorization", "cookie", "x-api-key", NULL};

/* ------------------------------------------------------------------ configuration */

static int read_cidrs(sc_conf_reader_t *r, const sc_yaml_node_t *map, sc_trusted_proxies_t *tp)
{
    char key[SC_CONF_KEY_MAX], reason[256];
    const sc_yaml_node_t *list = sc_yaml_tree_get(map, "cidrs");
    if (sc_yaml_tree_is_null(list))
        return 0;
    if (sc_conf_list(r, list, "trusted_proxies.cidrs") != 0)
        return -1;
    if (list->num_items > SC_TRUSTED_PROXIES_MAX_CIDRS)
        return sc_conf_error(r, list, "trusted_proxies.cidrs", "at most %d ranges", SC_TRUSTED_PROXIES_MAX_CIDRS);
    if (list->num_items != 0 && (tp->cidrs = calloc(list->num_items, sizeof(*tp->cidrs))) == NULL)
        return sc_conf_error(r, list, "trusted_proxies.cidrs", "out of memory");
    for (size_t i = 0; i != list->num_items; ++i) {
        const sc_yaml_node_t *item = list->items[i];
        sc_conf_index(key, "trusted_proxies.cidrs", i);
        if (item->type != SC_YAML_SCALAR || item->scalar_len == 0)
            return sc_conf_error(r, item, key, "must be an address or a range (ADDRESS/PREFIX)");
        if (sc_cidr_parse(item->scalar, &tp->cidrs[i], reason, sizeof(reason)) != 0)
            return sc_conf_error(r, item, key, "%s", reason);
        tp->num_cidrs = i + 1;
    }
    return 0;
}

static int read_section(sc_conf_reader_t *r, const sc_yaml_node_t *map, sc_trusted_proxies_t *tp)
{
    if (sc_conf_mapping(r, map, "trusted_proxies", keys) != 0 || read_cidrs(r, map, tp) != 0 ||
        sc_conf_bool(r, map, "trusted_proxies", "client_cert", &tp->client_cert) != 0)
        return -1;
    if (tp->num_cidrs == 0 && !tp->client_cert) /* an empty section is a mistake, not a way to say "nobody" */
        return sc_conf_error(r, map, "trusted_proxies",
                             "names no peer: list cidrs and/or set client_cert: true "
                             "(leave trusted_proxies out to trust nobody)");
    return 0;
}

static int is_secret_header(const char *name, size_t len)
{
    for (const char *const *s = secret_headers; *s != NULL; ++s)
        if (sc_headers_name_loose_eq(name, len, *s, strlen(*s)))
            return 1;
    return 0;
}

/* request_id_header: a header name (letters, digits, '-' and '_'), kept in lower case as h2o keeps names. */
static int read_request_id_header(sc_conf_reader_t *r, const sc_yaml_node_t *root, sc_trusted_proxies_t *tp)
{
    const sc_yaml_node_t *at = sc_yaml_tree_get(root, "request_id_header");
    if (sc_conf_string(r, root, "", "request_id_header", &tp->request_id_header) != 0)
        return -1;
    char *name = tp->request_id_header;
    if (name == NULL)
        return 0;
    size_t len = strlen(name);
    if (len > MAX_HEADER_NAME || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != len)
        return sc_conf_error(r, at, "request_id_header", "\"%s\" is not a header name (at most %d letters, digits, - and _)", name,
                             MAX_HEADER_NAME);
    if (is_secret_header(name, len))
        return sc_conf_error(r, at, "request_id_header", "\"%s\" carries credentials: it is never logged", name);
    for (char *p = name; *p != '\0'; ++p)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return 0;
}

int sc_trusted_proxies_read(sc_conf_reader_t *r, const sc_yaml_node_t *root, sc_trusted_proxies_t *tp)
{
    const sc_yaml_node_t *section = sc_yaml_tree_get(root, "trusted_proxies");
    if (section != NULL && read_section(r, section, tp) != 0)
        return -1;
    if (read_request_id_header(r, root, tp) != 0)
        return -1;
    /* the request id is believed from trusted peers only: without any, the setting would do nothing */
    if (tp->request_id_header != NULL && section == NULL)
        return sc_conf_error(r, sc_yaml_tree_get(root, "request_id_header"), "request_id_header",
                             "is read from trusted peers only: configure trusted_proxies too");
    return 0;
}

void sc_trusted_proxies_clear(sc_trusted_proxies_t *tp)
{
    free(tp->cidrs);
    free(tp->request_id_header);
    memset(tp, 0, sizeof(*tp));
}

/* ------------------------------------------------------------------ per request */

int sc_trusted_proxies_trust(const sc_trusted_proxies_t *tp, const struct sockaddr *peer, int client_cert_verified)
{
    sc_ip_t ip;
    if (tp->client_cert && client_cert_verified)
        return 1;
    if (tp->num_cidrs == 0 || peer == NULL || sc_cidr_ip_from_sockaddr(peer, &ip) != 0)
        return 0;
    return sc_cidr_list_contains(tp->cidrs, tp->num_cidrs, &ip);
}

static int ows(char c)
{
    return c == ' ' || c == '\t';
}

static h2o_iovec_t trim(const char *s, size_t len)
{
    while (len != 0 && ows(s[0]))
        ++s, --len;
    while (len != 0 && ows(s[len - 1]))
        --len;
    return h2o_iovec_init(s, len);
}

static int is_name(const h2o_iovec_t *name, const char *lc, size_t lc_len)
{
    return h2o_lcstris(name->base, name->len, lc, lc_len);
}

/* The last copy of a header: the one the nearest (trusted) hop wrote, when several did. */
static h2o_iovec_t last_value(const h2o_headers_t *headers, const char *lc, size_t lc_len)
{
    h2o_iovec_t found = {NULL, 0};
    for (size_t i = 0; i != headers->size; ++i)
        if (is_name(headers->entries[i].name, lc, lc_len))
            found = trim(headers->entries[i].value.base, headers->entries[i].value.len);
    return found;
}

/* Several X-Forwarded-For lines are one list (RFC 9110, 5.3): joined in order. */
static h2o_iovec_t xff_chain(h2o_mem_pool_t *pool, const h2o_headers_t *headers)
{
    h2o_iovec_t first = {NULL, 0};
    size_t copies = 0, total = 0;
    for (size_t i = 0; i != headers->size; ++i) {
        h2o_iovec_t v = trim(headers->entries[i].value.base, headers->entries[i].value.len);
        if (!is_name(headers->entries[i].name, H2O_STRLIT("x-forwarded-for")) || v.len == 0)
            continue;
        if (copies++ == 0)
            first = v;
        total += v.len + 2;
    }
    if (copies <= 1)
        return first; /* the usual case: no copy made */
    char *out = h2o_mem_alloc_pool(pool, total), *p = out;
    for (size_t i = 0; i != headers->size; ++i) {
        h2o_iovec_t v = trim(headers->entries[i].value.base, headers->entries[i].value.len);
        if (!is_name(headers->entries[i].name, H2O_STRLIT("x-forwarded-for")) || v.len == 0)
            continue;
        if (p != out) {
            memcpy(p, ", ", 2);
            p += 2;
        }
        memcpy(p, v.base, v.len);
        p += v.len;
    }
    return h2o_iovec_init(out, (size_t)(p - out));
}

/* X-Forwarded-Proto: one copy saying http or https, or nothing (the listener's scheme then). */
static h2o_iovec_t forwarded_proto(const h2o_headers_t *headers)
{
    h2o_iovec_t found = {NULL, 0};
    size_t copies = 0;
    for (size_t i = 0; i != headers->size; ++i)
        if (is_name(headers->entries[i].name, H2O_STRLIT("x-forwarded-proto")) && copies++ == 0)
            found = trim(headers->entries[i].value.base, headers->entries[i].value.len);
    if (copies != 1 ||
        !(h2o_lcstris(found.base, found.len, H2O_STRLIT("https")) || h2o_lcstris(found.base, found.len, H2O_STRLIT("http"))))
        return h2o_iovec_init(NULL, 0);
    return found;
}

void sc_trusted_proxies_read_headers(const sc_trusted_proxies_t *tp, h2o_mem_pool_t *pool, const h2o_headers_t *headers,
                                     sc_forwarded_t *out)
{
    out->chain = xff_chain(pool, headers);
    out->client = sc_trusted_proxies_xff_client(tp, out->chain);
    out->proto = forwarded_proto(headers);
    out->trace_id = last_value(headers, H2O_STRLIT("x-amzn-trace-id"));
    out->request_id = tp->request_id_header != NULL ? last_value(headers, tp->request_id_header, strlen(tp->request_id_header))
                                                    : h2o_iovec_init(NULL, 0);
}

/* Nothing, or ":PORT" (0 to 65535), from p to end. */
static int port_or_nothing(const char *p, const char *end)
{
    unsigned port = 0;
    if (p == end)
        return 1;
    if (*p != ':' || end - p < 2 || end - p > 6)
        return 0;
    for (++p; p != end; ++p) {
        if (*p < '0' || *p > '9')
            return 0;
        port = port * 10 + (unsigned)(*p - '0');
    }
    return port <= 65535;
}

/* One X-Forwarded-For entry: ADDRESS, IPv4:PORT, [IPv6] or [IPv6]:PORT. Returns 0 or -1. */
static int entry_address(h2o_iovec_t e, h2o_iovec_t *addr, sc_ip_t *ip)
{
    const char *end = e.base + e.len;
    if (e.base[0] == '[') {
        const char *close = memchr(e.base, ']', e.len);
        if (close == NULL || !port_or_nothing(close + 1, end))
            return -1;
        *addr = h2o_iovec_init(e.base + 1, (size_t)(close - e.base - 1));
    } else {
        const char *colon = memchr(e.base, ':', e.len);
        if (colon != NULL && memchr(colon + 1, ':', (size_t)(end - colon - 1)) == NULL) { /* one colon: IPv4:PORT */
            if (!port_or_nothing(colon, end))
                return -1;
            *addr = h2o_iovec_init(e.base, (size_t)(colon - e.base));
        } else {
            *addr = e;
        }
    }
    return sc_cidr_ip_parse(addr->base, addr->len, ip);
}

h2o_iovec_t sc_trusted_proxies_xff_client(const sc_trusted_proxies_t *tp, h2o_iovec_t chain)
{
    h2o_iovec_t none = {NULL, 0}, leftmost = none;
    size_t end = chain.len;
    while (end != 0) { /* right to left */
        size_t start = end;
        while (start != 0 && chain.base[start - 1] != ',')
            --start;
        h2o_iovec_t entry = trim(chain.base + start, end - start), addr;
        sc_ip_t ip;
        end = start != 0 ? start - 1 : 0;
        if (entry.len == 0)
            continue;
        if (entry_address(entry, &addr, &ip) != 0)
            return none; /* not an address: nothing the log could vouch for */
        if (!sc_cidr_list_contains(tp->cidrs, tp->num_cidrs, &ip))
            return addr;
        leftmost = addr; /* a trusted hop: the client is further left */
    }
    return leftmost;
}

h2o_iovec_t sc_trusted_proxies_xff_append(h2o_mem_pool_t *pool, h2o_iovec_t chain, h2o_iovec_t peer)
{
    if (chain.len == 0)
        return peer;
    char *out = h2o_mem_alloc_pool(pool, chain.len + 2 + peer.len);
    memcpy(out, chain.base, chain.len);
    memcpy(out + chain.len, ", ", 2);
    memcpy(out + chain.len + 2, peer.base, peer.len);
    return h2o_iovec_init(out, chain.len + 2 + peer.len);
}
