/*
 * tenant_labels: the process-wide registry of tenant label values for the per-tenant metrics
 * (metrics.per_tenant): first come, first served, bounded by metrics.max_tenants; tenants past
 * the bound share the series tenant="_other". Looking a tenant up takes no lock (a tenant's
 * first request, adding it, does): the request logger asks on every request.
 */
#ifndef SC_TENANT_LABELS_H
#define SC_TENANT_LABELS_H

#include <stddef.h>

#define SC_TENANT_LABELS_OTHER "_other"

typedef struct sc_tenant_labels sc_tenant_labels_t;

sc_tenant_labels_t *sc_tenant_labels_create(size_t max_tenants);
void sc_tenant_labels_destroy(sc_tenant_labels_t *labels);
/* How many tenants have a series of their own; their names never change once given. */
size_t sc_tenant_labels_count(sc_tenant_labels_t *labels);
const char *sc_tenant_labels_name(sc_tenant_labels_t *labels, size_t index);
/* The series index of a tenant: its own below max_tenants, else max_tenants ("_other"). Thread-safe. */
size_t sc_tenant_labels_index(sc_tenant_labels_t *labels, const char *tenant, size_t len);

#endif
