#include "conf.h"

#include "file_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *sc_conf_key(char *buf, const char *where, const char *name)
{
    if (where == NULL || where[0] == '\0')
        snprintf(buf, SC_CONF_KEY_MAX, "%s", name);
    else
        snprintf(buf, SC_CONF_KEY_MAX, "%s.%s", where, name);
    return buf;
}

const char *sc_conf_index(char *buf, const char *where, size_t index)
{
    int n = snprintf(buf, SC_CONF_KEY_MAX, "%s[%zu]", where, index);
    if (n < 0 || n >= SC_CONF_KEY_MAX) /* key paths are short; keep the index visible if not */
        snprintf(buf, SC_CONF_KEY_MAX, "[%zu]", index);
    return buf;
}

int sc_conf_error(sc_conf_reader_t *r, const sc_yaml_node_t *at, const char *key, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    unsigned line = at != NULL ? at->line : 1;
    if (key != NULL && key[0] != '\0')
        snprintf(r->err, r->errsize, "%s:%u: %s: %s", r->file, line, key, msg);
    else
        snprintf(r->err, r->errsize, "%s:%u: %s", r->file, line, msg);
    return -1;
}

int sc_conf_mapping(sc_conf_reader_t *r, const sc_yaml_node_t *node, const char *where, const char *const *allowed)
{
    char key[SC_CONF_KEY_MAX];
    if (node == NULL || node->type != SC_YAML_MAPPING)
        return sc_conf_error(r, node, where, "must be a mapping, got %s",
                             node != NULL ? sc_yaml_tree_type_name(node->type) : "nothing");
    for (size_t i = 0; i != node->num_pairs; ++i) {
        const char *name = node->pairs[i].key->scalar;
        const char *const *a;
        for (a = allowed; *a != NULL; ++a)
            if (strcmp(*a, name) == 0)
                break;
        if (*a == NULL)
            return sc_conf_error(r, node->pairs[i].key, sc_conf_key(key, where, name), "unknown key");
    }
    return 0;
}

int sc_conf_list(sc_conf_reader_t *r, const sc_yaml_node_t *node, const char *where)
{
    if (node == NULL || node->type != SC_YAML_SEQUENCE)
        return sc_conf_error(r, node, where, "must be a list, got %s",
                             node != NULL ? sc_yaml_tree_type_name(node->type) : "nothing");
    return 0;
}

int sc_conf_require(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, const char *name)
{
    char key[SC_CONF_KEY_MAX];
    if (sc_yaml_tree_is_null(sc_yaml_tree_get(map, name)))
        return sc_conf_error(r, map, sc_conf_key(key, where, name), "is required");
    return 0;
}

/* Returns the scalar value node for `name`, NULL when absent; reports non-scalars. */
static int get_scalar(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, const char *name,
                      const sc_yaml_node_t **out)
{
    char key[SC_CONF_KEY_MAX];
    const sc_yaml_node_t *v = sc_yaml_tree_get(map, name);
    *out = NULL;
    if (sc_yaml_tree_is_null(v))
        return 0;
    if (v->type != SC_YAML_SCALAR)
        return sc_conf_error(r, v, sc_conf_key(key, where, name), "must be a single value, got %s",
                             sc_yaml_tree_type_name(v->type));
    *out = v;
    return 0;
}

int sc_conf_string(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, const char *name, char **out)
{
    char key[SC_CONF_KEY_MAX];
    const sc_yaml_node_t *v;
    if (get_scalar(r, map, where, name, &v) != 0)
        return -1;
    if (v == NULL)
        return 0;
    if (v->scalar_len == 0)
        return sc_conf_error(r, v, sc_conf_key(key, where, name), "must not be empty");
    char *copy = strdup(v->scalar);
    if (copy == NULL)
        return sc_conf_error(r, v, sc_conf_key(key, where, name), "out of memory");
    free(*out);
    *out = copy;
    return 0;
}

int sc_conf_path(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, const char *name, char **out)
{
    char key[SC_CONF_KEY_MAX], *rel = NULL;
    if (sc_conf_string(r, map, where, name, &rel) != 0)
        return -1;
    if (rel == NULL)
        return 0;
    char *resolved = sc_file_util_resolve(r->file, rel);
    free(rel);
    if (resolved == NULL)
        return sc_conf_error(r, sc_yaml_tree_get(map, name), sc_conf_key(key, where, name), "out of memory");
    free(*out);
    *out = resolved;
    return 0;
}

int sc_conf_parse_uint(const char *s, uint64_t *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

int sc_conf_uint(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, const char *name, uint64_t min, uint64_t max,
                 uint64_t *out)
{
    char key[SC_CONF_KEY_MAX];
    const sc_yaml_node_t *v;
    uint64_t n;
    if (get_scalar(r, map, where, name, &v) != 0)
        return -1;
    if (v == NULL)
        return 0;
    if (sc_conf_parse_uint(v->scalar, &n) != 0)
        return sc_conf_error(r, v, sc_conf_key(key, where, name), "\"%s\" is not a whole number", v->scalar);
    if (n < min || n > max)
        return sc_conf_error(r, v, sc_conf_key(key, where, name), "%llu is out of range [%llu, %llu]", (unsigned long long)n,
                             (unsigned long long)min, (unsigned long long)max);
    *out = n;
    return 0;
}

int sc_conf_bool(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, const char *name, int *out)
{
    static const char *const truthy[] = {"true", "yes", "on", NULL}, *const falsy[] = {"false", "no", "off", NULL};
    char key[SC_CONF_KEY_MAX];
    const sc_yaml_node_t *v;
    if (get_scalar(r, map, where, name, &v) != 0)
        return -1;
    if (v == NULL)
        return 0;
    for (const char *const *t = truthy; *t != NULL; ++t)
        if (strcasecmp(v->scalar, *t) == 0)
            return *out = 1, 0;
    for (const char *const *f = falsy; *f != NULL; ++f)
        if (strcasecmp(v->scalar, *f) == 0)
            return *out = 0, 0;
    return sc_conf_error(r, v, sc_conf_key(key, where, name), "\"%s\" is not true or false", v->scalar);
}

void sc_conf_free_strings(char **strings, size_t count)
{
    if (strings == NULL)
        return;
    for (size_t i = 0; i != count; ++i)
        free(strings[i]);
    free(strings);
}

int sc_conf_strings(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, const char *name, char ***out, size_t *count)
{
    char key[SC_CONF_KEY_MAX], item_key[SC_CONF_KEY_MAX];
    const sc_yaml_node_t *v = sc_yaml_tree_get(map, name);
    if (sc_yaml_tree_is_null(v))
        return 0;
    sc_conf_key(key, where, name);
    const sc_yaml_node_t *const *items = (const sc_yaml_node_t *const *)&v;
    size_t n = 1;
    if (v->type == SC_YAML_SEQUENCE) {
        items = (const sc_yaml_node_t *const *)v->items;
        n = v->num_items;
    } else if (v->type != SC_YAML_SCALAR) {
        return sc_conf_error(r, v, key, "must be a list of values, got %s", sc_yaml_tree_type_name(v->type));
    }
    char **list = calloc(n + 1, sizeof(*list));
    if (list == NULL)
        return sc_conf_error(r, v, key, "out of memory");
    for (size_t i = 0; i != n; ++i) {
        const sc_yaml_node_t *item = items[i];
        if (item->type != SC_YAML_SCALAR || item->scalar_len == 0) {
            sc_conf_free_strings(list, i);
            return sc_conf_error(r, item, sc_conf_index(item_key, key, i), "must be a non-empty value");
        }
        if ((list[i] = strdup(item->scalar)) == NULL) {
            sc_conf_free_strings(list, i);
            return sc_conf_error(r, item, key, "out of memory");
        }
    }
    sc_conf_free_strings(*out, *count);
    *out = list;
    *count = n;
    return 0;
}
