#include "conf_placeholder.h"

#include <string.h>

#include "text.h"

/* Longest placeholder quoted in an error message; the rest is cut. */
#define QUOTE_MAX 64

static int placeholder_char(unsigned char c)
{
    return c != '<' && c != '>' && !sc_text_is_control(c);
}

int sc_conf_placeholder_find(const char *s, size_t len, size_t *at, size_t *placeholder_len)
{
    for (size_t i = 0; i != len; ++i) {
        if (s[i] != '<')
            continue;
        size_t j = i + 1;
        while (j != len && placeholder_char((unsigned char)s[j]))
            ++j;
        if (j != len && s[j] == '>' && j > i + 1) {
            *at = i;
            *placeholder_len = j - i + 1;
            return 1;
        }
        i = j - 1; /* the next '<' (or the end) starts the next candidate */
    }
    return 0;
}

static int check_node(sc_conf_reader_t *r, const sc_yaml_node_t *node, const char *where)
{
    char key[SC_CONF_KEY_MAX];
    size_t at, len;
    switch (node->type) {
    case SC_YAML_SCALAR:
        if (!sc_conf_placeholder_find(node->scalar, node->scalar_len, &at, &len))
            return 0;
        return sc_conf_error(r, node, where, "still holds the placeholder \"%.*s%s\": replace it with the real value",
                             (int)(len < QUOTE_MAX ? len : QUOTE_MAX), node->scalar + at, len > QUOTE_MAX ? "..." : "");
    case SC_YAML_SEQUENCE:
        for (size_t i = 0; i != node->num_items; ++i)
            if (check_node(r, node->items[i], sc_conf_index(key, where, i)) != 0)
                return -1;
        return 0;
    case SC_YAML_MAPPING:
        for (size_t i = 0; i != node->num_pairs; ++i)
            if (check_node(r, node->pairs[i].value, sc_conf_key(key, where, node->pairs[i].key->scalar)) != 0)
                return -1;
        return 0;
    }
    return 0;
}

int sc_conf_placeholder_refuse(sc_conf_reader_t *r, const sc_yaml_node_t *root)
{
    return root != NULL ? check_node(r, root, "") : 0;
}
