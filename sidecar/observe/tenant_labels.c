#include "tenant_labels.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct sc_tenant_labels {
    pthread_mutex_t lock;
    size_t max;
    size_t count;
    char **names;
};

sc_tenant_labels_t *sc_tenant_labels_create(size_t max_tenants)
{
    sc_tenant_labels_t *l = calloc(1, sizeof(*l));
    if (l == NULL || (l->names = calloc(max_tenants + 1, sizeof(char *))) == NULL) {
        free(l);
        return NULL;
    }
    l->max = max_tenants;
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
    pthread_mutex_destroy(&l->lock);
    free(l);
}

size_t sc_tenant_labels_index(sc_tenant_labels_t *l, const char *tenant, size_t len)
{
    size_t i;
    pthread_mutex_lock(&l->lock);
    for (i = 0; i != l->count; ++i)
        if (strlen(l->names[i]) == len && memcmp(l->names[i], tenant, len) == 0)
            goto Exit;
    if (l->count < l->max && (l->names[l->count] = strndup(tenant, len)) != NULL)
        i = l->count++;
    else
        i = l->max;
Exit:
    pthread_mutex_unlock(&l->lock);
    return i;
}

size_t sc_tenant_labels_count(sc_tenant_labels_t *l)
{
    pthread_mutex_lock(&l->lock);
    size_t n = l->count;
    pthread_mutex_unlock(&l->lock);
    return n;
}

const char *sc_tenant_labels_name(sc_tenant_labels_t *l, size_t index)
{
    return index < l->max ? l->names[index] : SC_TENANT_LABELS_OTHER;
}
