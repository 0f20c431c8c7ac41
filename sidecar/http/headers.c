#include "headers.h"

#include <string.h>

static int loose_char(int c)
{
    if (c == '_')
        return '-';
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

int sc_headers_name_loose_prefix(const char *name, size_t name_len, const char *prefix, size_t prefix_len)
{
    if (name_len < prefix_len)
        return 0;
    for (size_t i = 0; i != prefix_len; ++i)
        if (loose_char((unsigned char)name[i]) != loose_char((unsigned char)prefix[i]))
            return 0;
    return 1;
}

int sc_headers_name_loose_eq(const char *a, size_t a_len, const char *b, size_t b_len)
{
    return a_len == b_len && sc_headers_name_loose_prefix(a, a_len, b, b_len);
}

size_t sc_headers_delete_if(h2o_headers_t *headers, int (*match)(const h2o_iovec_t *name, void *ctx), void *ctx)
{
    size_t kept = 0, removed = 0;
    for (size_t i = 0; i != headers->size; ++i) {
        if (match(headers->entries[i].name, ctx)) {
            ++removed;
            continue;
        }
        headers->entries[kept++] = headers->entries[i];
    }
    headers->size = kept;
    return removed;
}

static int named(const h2o_iovec_t *name, void *ctx)
{
    const h2o_iovec_t *wanted = ctx;
    return sc_headers_name_loose_eq(name->base, name->len, wanted->base, wanted->len);
}

size_t sc_headers_delete_loose(h2o_headers_t *headers, const char *name, size_t name_len)
{
    h2o_iovec_t wanted = h2o_iovec_init(name, name_len);
    return sc_headers_delete_if(headers, named, &wanted);
}

void sc_headers_replace(h2o_mem_pool_t *pool, h2o_headers_t *headers, const char *name, size_t name_len, const char *value,
                        size_t value_len)
{
    sc_headers_delete_loose(headers, name, name_len);
    h2o_add_header_by_str(pool, headers, name, name_len, 1, NULL, value, value_len);
}

size_t sc_headers_count(const h2o_headers_t *headers, const char *name, size_t name_len, h2o_iovec_t *first)
{
    size_t n = 0;
    for (size_t i = 0; i != headers->size; ++i) {
        const h2o_iovec_t *hn = headers->entries[i].name;
        if (h2o_lcstris(hn->base, hn->len, name, name_len)) {
            if (n++ == 0 && first != NULL)
                *first = headers->entries[i].value;
        }
    }
    return n;
}
