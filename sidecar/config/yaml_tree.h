/*
 * yaml_tree: a YAML document as a small tree of nodes that remember their line numbers, so that
 * the configuration loaders can report "file:line: key: reason" for every error.
 *
 * Deliberately limited to what configuration needs: mappings, sequences and scalars. Anchors,
 * aliases and tags are refused (aliases make documents that expand exponentially); duplicate
 * mapping keys are refused (the second one would silently win otherwise).
 */
#ifndef SC_YAML_TREE_H
#define SC_YAML_TREE_H

#include <stddef.h>

typedef enum { SC_YAML_SCALAR, SC_YAML_SEQUENCE, SC_YAML_MAPPING } sc_yaml_type_t;

typedef struct sc_yaml_node sc_yaml_node_t;

typedef struct sc_yaml_pair {
    sc_yaml_node_t *key; /* always a scalar */
    sc_yaml_node_t *value;
} sc_yaml_pair_t;

struct sc_yaml_node {
    sc_yaml_type_t type;
    unsigned line; /* 1-based */
    /* SC_YAML_SCALAR */
    char *scalar; /* NUL-terminated; may contain no NUL (refused at parse time) */
    size_t scalar_len;
    int plain; /* 1 when unquoted: "null", "~" and "" are only null when plain */
    /* SC_YAML_SEQUENCE */
    sc_yaml_node_t **items;
    size_t num_items;
    /* SC_YAML_MAPPING */
    sc_yaml_pair_t *pairs;
    size_t num_pairs;
};

/**
 * Parses one YAML document from memory. `filename` is used in error messages only. Returns the
 * root node (owned by the caller, release with sc_yaml_tree_free) or NULL with "file:line: reason" in
 * err. An empty document yields an empty mapping.
 */
sc_yaml_node_t *sc_yaml_tree_parse_string(const char *text, size_t len, const char *filename, char *err, size_t errsize);

void sc_yaml_tree_free(sc_yaml_node_t *node);

/**
 * Returns the value for `key` in a mapping, or NULL when absent (or when `map` is not a mapping).
 */
sc_yaml_node_t *sc_yaml_tree_get(const sc_yaml_node_t *map, const char *key);

/**
 * 1 when the node is a plain null: absent values, "~", "null" or nothing after the colon.
 */
int sc_yaml_tree_is_null(const sc_yaml_node_t *node);

/**
 * The name of a node type, for error messages ("a mapping", "a list", "a scalar").
 */
const char *sc_yaml_tree_type_name(sc_yaml_type_t type);

#endif
