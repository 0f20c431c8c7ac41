#include "yaml_tree.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Nesting beyond this is never a configuration file; refusing it bounds the recursion. */
#define MAX_DEPTH 32

typedef struct parser {
    yaml_parser_t yaml;
    const char *filename;
    char *err;
    size_t errsize;
} parser_t;

static int fail(parser_t *p, unsigned line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(parser_t *p, unsigned line, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errsize, "%s:%u: %s", p->filename, line, msg);
    return -1;
}

static sc_yaml_node_t *new_node(sc_yaml_type_t type, const yaml_event_t *ev)
{
    sc_yaml_node_t *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return NULL;
    n->type = type;
    n->line = (unsigned)ev->start_mark.line + 1;
    return n;
}

static int next_event(parser_t *p, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&p->yaml, ev)) {
        unsigned line = (unsigned)p->yaml.problem_mark.line + 1;
        return fail(p, line, "invalid YAML: %s", p->yaml.problem != NULL ? p->yaml.problem : "syntax error");
    }
    return 0;
}

static sc_yaml_node_t *parse_node(parser_t *p, yaml_event_t *ev, int depth);

static int refuse_anchor_or_tag(parser_t *p, const yaml_event_t *ev, const unsigned char *anchor, const unsigned char *tag,
                                int implicit)
{
    unsigned line = (unsigned)ev->start_mark.line + 1;
    if (anchor != NULL)
        return fail(p, line, "YAML anchors are not supported");
    if (tag != NULL && !implicit)
        return fail(p, line, "YAML tags are not supported");
    return 0;
}

static sc_yaml_node_t *parse_scalar(parser_t *p, yaml_event_t *ev)
{
    if (refuse_anchor_or_tag(p, ev, ev->data.scalar.anchor, ev->data.scalar.tag,
                             ev->data.scalar.plain_implicit || ev->data.scalar.quoted_implicit) != 0)
        return NULL;
    if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length) != NULL) {
        fail(p, (unsigned)ev->start_mark.line + 1, "NUL character in value");
        return NULL;
    }
    sc_yaml_node_t *n = new_node(SC_YAML_SCALAR, ev);
    if (n == NULL || (n->scalar = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length)) == NULL) {
        free(n);
        fail(p, (unsigned)ev->start_mark.line + 1, "out of memory");
        return NULL;
    }
    n->scalar_len = ev->data.scalar.length;
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    return n;
}

static int append_item(sc_yaml_node_t *seq, sc_yaml_node_t *item)
{
    sc_yaml_node_t **items = realloc(seq->items, (seq->num_items + 1) * sizeof(*items));
    if (items == NULL)
        return -1;
    seq->items = items;
    seq->items[seq->num_items++] = item;
    return 0;
}

static sc_yaml_node_t *parse_sequence(parser_t *p, yaml_event_t *start, int depth)
{
    if (refuse_anchor_or_tag(p, start, start->data.sequence_start.anchor, start->data.sequence_start.tag,
                             start->data.sequence_start.implicit) != 0)
        return NULL;
    sc_yaml_node_t *seq = new_node(SC_YAML_SEQUENCE, start);
    if (seq == NULL)
        return NULL;
    for (;;) {
        yaml_event_t ev;
        if (next_event(p, &ev) != 0)
            goto Error;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return seq;
        }
        sc_yaml_node_t *item = parse_node(p, &ev, depth + 1);
        yaml_event_delete(&ev);
        if (item == NULL)
            goto Error;
        if (append_item(seq, item) != 0) {
            sc_yaml_tree_free(item);
            fail(p, seq->line, "out of memory");
            goto Error;
        }
    }
Error:
    sc_yaml_tree_free(seq);
    return NULL;
}

static int append_pair(parser_t *p, sc_yaml_node_t *map, sc_yaml_node_t *key, sc_yaml_node_t *value)
{
    sc_yaml_pair_t *pairs = realloc(map->pairs, (map->num_pairs + 1) * sizeof(*pairs));
    if (pairs == NULL)
        return fail(p, key->line, "out of memory");
    map->pairs = pairs;
    map->pairs[map->num_pairs++] = (sc_yaml_pair_t){key, value};
    return 0;
}

static sc_yaml_node_t *parse_mapping(parser_t *p, yaml_event_t *start, int depth)
{
    if (refuse_anchor_or_tag(p, start, start->data.mapping_start.anchor, start->data.mapping_start.tag,
                             start->data.mapping_start.implicit) != 0)
        return NULL;
    sc_yaml_node_t *map = new_node(SC_YAML_MAPPING, start);
    if (map == NULL)
        return NULL;
    for (;;) {
        yaml_event_t ev;
        if (next_event(p, &ev) != 0)
            goto Error;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return map;
        }
        sc_yaml_node_t *key = parse_node(p, &ev, depth + 1);
        yaml_event_delete(&ev);
        if (key == NULL)
            goto Error;
        if (key->type != SC_YAML_SCALAR) {
            fail(p, key->line, "mapping keys must be plain names");
            sc_yaml_tree_free(key);
            goto Error;
        }
        if (sc_yaml_tree_get(map, key->scalar) != NULL) {
            fail(p, key->line, "%s: duplicate key", key->scalar);
            sc_yaml_tree_free(key);
            goto Error;
        }
        sc_yaml_node_t *value = NULL;
        if (next_event(p, &ev) == 0) {
            value = parse_node(p, &ev, depth + 1);
            yaml_event_delete(&ev);
        }
        if (value == NULL || append_pair(p, map, key, value) != 0) {
            sc_yaml_tree_free(key);
            sc_yaml_tree_free(value);
            goto Error;
        }
    }
Error:
    sc_yaml_tree_free(map);
    return NULL;
}

static sc_yaml_node_t *parse_node(parser_t *p, yaml_event_t *ev, int depth)
{
    if (depth > MAX_DEPTH) {
        fail(p, (unsigned)ev->start_mark.line + 1, "nested deeper than %d levels", MAX_DEPTH);
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return parse_scalar(p, ev);
    case YAML_SEQUENCE_START_EVENT:
        return parse_sequence(p, ev, depth);
    case YAML_MAPPING_START_EVENT:
        return parse_mapping(p, ev, depth);
    case YAML_ALIAS_EVENT:
        fail(p, (unsigned)ev->start_mark.line + 1, "YAML aliases are not supported");
        return NULL;
    default:
        fail(p, (unsigned)ev->start_mark.line + 1, "unexpected YAML structure");
        return NULL;
    }
}

/* Skips the stream and document start events, parses the root, and refuses a second document. */
static sc_yaml_node_t *parse_document(parser_t *p)
{
    yaml_event_t ev;
    sc_yaml_node_t *root = NULL;

    if (next_event(p, &ev) != 0)
        return NULL;
    yaml_event_delete(&ev); /* STREAM-START */
    if (next_event(p, &ev) != 0)
        return NULL;
    if (ev.type == YAML_STREAM_END_EVENT) { /* empty file */
        yaml_event_delete(&ev);
        root = calloc(1, sizeof(*root));
        if (root != NULL) {
            root->type = SC_YAML_MAPPING;
            root->line = 1;
        }
        return root;
    }
    yaml_event_delete(&ev); /* DOCUMENT-START */
    if (next_event(p, &ev) != 0)
        return NULL;
    root = parse_node(p, &ev, 0);
    yaml_event_delete(&ev);
    if (root == NULL)
        return NULL;
    if (next_event(p, &ev) != 0) /* DOCUMENT-END */
        goto Error;
    yaml_event_delete(&ev);
    if (next_event(p, &ev) != 0)
        goto Error;
    int is_end = ev.type == YAML_STREAM_END_EVENT;
    unsigned line = (unsigned)ev.start_mark.line + 1;
    yaml_event_delete(&ev);
    if (!is_end) {
        fail(p, line, "only one YAML document per file is supported");
        goto Error;
    }
    return root;
Error:
    sc_yaml_tree_free(root);
    return NULL;
}

sc_yaml_node_t *sc_yaml_tree_parse_string(const char *text, size_t len, const char *filename, char *err, size_t errsize)
{
    parser_t p = {.filename = filename, .err = err, .errsize = errsize};
    if (!yaml_parser_initialize(&p.yaml)) {
        snprintf(err, errsize, "%s: out of memory", filename);
        return NULL;
    }
    yaml_parser_set_input_string(&p.yaml, (const unsigned char *)text, len);
    sc_yaml_node_t *root = parse_document(&p);
    yaml_parser_delete(&p.yaml);
    return root;
}

void sc_yaml_tree_free(sc_yaml_node_t *node)
{
    size_t i;
    if (node == NULL)
        return;
    for (i = 0; i != node->num_items; ++i)
        sc_yaml_tree_free(node->items[i]);
    for (i = 0; i != node->num_pairs; ++i) {
        sc_yaml_tree_free(node->pairs[i].key);
        sc_yaml_tree_free(node->pairs[i].value);
    }
    free(node->items);
    free(node->pairs);
    free(node->scalar);
    free(node);
}

sc_yaml_node_t *sc_yaml_tree_get(const sc_yaml_node_t *map, const char *key)
{
    if (map == NULL || map->type != SC_YAML_MAPPING)
        return NULL;
    for (size_t i = 0; i != map->num_pairs; ++i)
        if (strcmp(map->pairs[i].key->scalar, key) == 0)
            return map->pairs[i].value;
    return NULL;
}

int sc_yaml_tree_is_null(const sc_yaml_node_t *node)
{
    if (node == NULL)
        return 1;
    if (node->type != SC_YAML_SCALAR || !node->plain)
        return 0;
    return node->scalar_len == 0 || strcmp(node->scalar, "~") == 0 || strcmp(node->scalar, "null") == 0 ||
           strcmp(node->scalar, "Null") == 0 || strcmp(node->scalar, "NULL") == 0;
}

const char *sc_yaml_tree_type_name(sc_yaml_type_t type)
{
    switch (type) {
    case SC_YAML_SCALAR:
        return "a single value";
    case SC_YAML_SEQUENCE:
        return "a list";
    case SC_YAML_MAPPING:
        return "a mapping";
    }
    return "?";
}
