/*
 * conf: typed values out of a yaml_tree, with errors that name file, line and key:
 *
 *     policies/x.yaml:7: routes[1].methods: unknown method "GIT"
 *
 * Every function returns 0 on success and -1 after writing such a message into the reader's
 * error buffer. `where` is the key path of the enclosing mapping ("" at the top level,
 * "services[0]", "routes[1].cors"), `name` the key inside it.
 *
 * Optional values that are absent leave *out untouched, so callers pre-fill defaults.
 */
#ifndef SC_CONF_H
#define SC_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "yaml_tree.h"

typedef struct sc_conf_reader {
    const char *file;
    char *err;
    size_t errsize;
} sc_conf_reader_t;

#define SC_CONF_KEY_MAX 256

/**
 * Writes "where.name" (or "name" when where is empty) into buf.
 */
const char *sc_conf_key(char *buf, const char *where, const char *name);

/**
 * Writes "where[index]" into buf.
 */
const char *sc_conf_index(char *buf, const char *where, size_t index);

/**
 * Reports an error at a node (or at line 1 when the node is NULL). Always returns -1.
 */
int sc_conf_error(sc_conf_reader_t *r, const sc_yaml_node_t *at, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/**
 * Requires `node` to be a mapping whose keys all appear in the NULL-terminated `allowed` list.
 */
int sc_conf_mapping(sc_conf_reader_t *r, const sc_yaml_node_t *node, const char *where, const char *const *allowed);

/**
 * Requires `node` to be a list.
 */
int sc_conf_list(sc_conf_reader_t *r, const sc_yaml_node_t *node, const char *where);

/**
 * Requires a key to be present (and not null).
 */
int sc_conf_require(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, const char *name);

/**
 * A non-empty string. *out is replaced by a heap copy (the previous value is freed).
 */
int sc_conf_string(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, const char *name, char **out);

/**
 * A file path, resolved against the directory of the file being read (absolute paths stay as
 * they are). *out is replaced by a heap string; it stays NULL when the key is absent.
 */
int sc_conf_path(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, const char *name, char **out);

/**
 * A decimal integer within [min, max].
 */
int sc_conf_uint(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, const char *name, uint64_t min, uint64_t max,
                 uint64_t *out);

/**
 * true/false (also yes/no, on/off).
 */
int sc_conf_bool(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, const char *name, int *out);

/**
 * A list of non-empty strings, or a single string taken as a list of one. *out is a heap array
 * of heap strings (release with sc_conf_free_strings); previous values are freed.
 */
int sc_conf_strings(sc_conf_reader_t *r, const sc_yaml_node_t *map, const char *where, const char *name, char ***out,
                    size_t *count);

void sc_conf_free_strings(char **strings, size_t count);

/**
 * Parses a decimal integer scalar; returns 0 on success.
 */
int sc_conf_parse_uint(const char *s, uint64_t *out);

#endif
