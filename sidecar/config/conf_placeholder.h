/*
 * conf_placeholder: refuses a configuration that still holds one of an example's placeholders,
 * "<region>", "<user-pool-id>", "<app-client-id>"... wherever it is, in the host file or a
 * policy. Many such values are otherwise valid (an issuer URL, an audience, a Redis user), so a
 * file copied from the example and not finished would pass --check and start, accepting no
 * token or, worse, one nobody meant. The error names file:line: key like every other.
 */
#ifndef SC_CONF_PLACEHOLDER_H
#define SC_CONF_PLACEHOLDER_H

#include <stddef.h>

#include "conf.h"
#include "yaml_tree.h"

/**
 * Finds the first placeholder in s: "<", one or more characters other than "<", ">" and control
 * characters, ">". Returns 1 and its offset and length (brackets included), or 0.
 */
int sc_conf_placeholder_find(const char *s, size_t len, size_t *at, size_t *placeholder_len);

/**
 * Walks every value under `root` (mapping values, list items, at any depth) and reports the
 * first one holding a placeholder: "file:line: key: still holds the placeholder ...". Returns 0
 * when there is none, -1 after reporting.
 */
int sc_conf_placeholder_refuse(sc_conf_reader_t *r, const sc_yaml_node_t *root);

#endif
