#include "tenant_labels.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

/*
 * An open-addressing table at most half full (2^k slots >= 2 x max_tenants), written once per
 * tenant and never cleared: a slot's name is published last, with a release store, so a reader
 * that sees it (acquire) sees its index. Readers take no lock; a tenant not yet in the table is
 * added under the lock, which checks again.
 */
typedef struct slot {
    const char *name; /* NULL: free */
    size_t index;
} slot_t;

struct sc_tenant_labels {
    pthread_mutex_t lock;
    size_t max;
    size_t count;  /* read without the lock: atomic */
    char **names;  /* by index */
    slot_t *slots; /* mask + 1 of them */
    size_t mask;
    uint64_t hash_key[2];
};

static size_t table_size(size_t max_tenants)
{
    size_t n = 16;
    while (n < max_tenants * 2)
        n *= 2;
    return n;
}

sc_tenant_labels_t *sc_tenant_labels_create(size_t max_tenants)
{
    sc_tenant_labels_t *l = calloc(1, sizeof(*l));
    size_t n = table_size(max_tenants);
    if (l == NULL || (l->names = calloc(max_tenants + 1, sizeof(char *))) == NULL ||
        (l->slots = calloc(n, sizeof(*l->slots))) == NULL) {
        if (l != NULL)
            free(l->names);
        free(l);
        return NULL;
    }
    l->max = max_tenants;
    l->mask = n - 1;
    /* the ids are those of existing tenants (request_log.c), not an attacker's: a fixed key will do */
    l->hash_key[0] = 0x74656e616e746c61;
    l->hash_key[1] = 0x62656c7300000001;
    pthread_mutex_init(&l->lock, NULL);
    return l;
}

void sc_tenant_labels_destroy(sc_tenant_labels_t *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i != l->count; ++i)
        free(l->names[i]);
    free(l->names);
    free(l->slots);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

/* The tenant's slot, or the free slot where it would go. */
static slot_t *probe(sc_tenant_labels_t *l, const char *tenant, size_t len)
{
    for (size_t i = sc_hash_siphash(l->hash_key, tenant, len);; ++i) {
        slot_t *s = &l->slots[i & l->mask];
        const char *name = __atomic_load_n(&s->name, __ATOMIC_ACQUIRE);
        if (name == NULL || (strncmp(name, tenant, len) == 0 && name[len] == '\0'))
            return s;
    }
}

static size_t add(sc_tenant_labels_t *l, const char *tenant, size_t len)
{
    pthread_mutex_lock(&l->lock);
    slot_t *s = probe(l, tenant, len);
    size_t index = l->max;
    if (s->name != NULL) {
        index = s->index; /* another thread added it meanwhile */
    } else if (l->count < l->max && (l->names[l->count] = strndup(tenant, len)) != NULL) {
        s->index = index = l->count;
        __atomic_store_n(&s->name, l->names[index], __ATOMIC_RELEASE);
        __atomic_store_n(&l->count, l->count + 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&l->lock);
    return index;
}

size_t sc_tenant_labels_index(sc_tenant_labels_t *l, const char *tenant, size_t len)
{
    slot_t *s = probe(l, tenant, len);
    if (__atomic_load_n(&s->name, __ATOMIC_ACQUIRE) != NULL)
        return s->index;
    if (__atomic_load_n(&l->count, __ATOMIC_ACQUIRE) >= l->max)
        return l->max; /* full: no lock for the tenants that share "_other" */
    return add(l, tenant, len);
}

size_t sc_tenant_labels_count(sc_tenant_labels_t *l)
{
    return __atomic_load_n(&l->count, __ATOMIC_ACQUIRE);
}

const char *sc_tenant_labels_name(sc_tenant_labels_t *l, size_t index)
{
    return index < l->max ? l->names[index] : SC_TENANT_LABELS_OTHER;
}
