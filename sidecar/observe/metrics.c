#include "metrics.h"

#include <stdlib.h>
#include <string.h>

const uint64_t sc_metrics_bucket_us[SC_METRICS_NUM_BUCKETS] = {500,    1000,   2500,   5000,    10000,   25000,    50000,
                                                               100000, 250000, 500000, 1000000, 2500000, 10000000, 30000000};
const char *const sc_metrics_bucket_le[SC_METRICS_NUM_BUCKETS] = {"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
                                                                  "0.1",    "0.25",  "0.5",    "1",     "2.5",  "10",    "30"};

/* ------------------------------------------------------------------ reasons */

/* Index 0 is "other"; the rest are registered at start-up, before the workers run. */
static const char *reasons[SC_METRICS_MAX_REASONS] = {"other"};
static size_t num_reasons = 1;

size_t sc_metrics_reason_index(const char *reason)
{
    for (size_t i = 0; i != num_reasons; ++i)
        if (strcmp(reasons[i], reason) == 0)
            return i;
    if (num_reasons == SC_METRICS_MAX_REASONS)
        return 0;
    reasons[num_reasons] = reason;
    return num_reasons++;
}

static size_t find_reason(const char *reason)
{
    for (size_t i = 1; i != num_reasons; ++i)
        if (reasons[i] == reason || strcmp(reasons[i], reason) == 0)
            return i;
    return 0;
}

size_t sc_metrics_num_reasons(void)
{
    return num_reasons;
}

const char *sc_metrics_reason_name(size_t index)
{
    return index < num_reasons ? reasons[index] : "other";
}

/* ------------------------------------------------------------------ counters */

void sc_metrics_count(uint64_t *counter)
{
    /* only the owner writes: a relaxed load and store, no locked instruction */
    __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

static void add(uint64_t *counter, uint64_t n)
{
    __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

uint64_t sc_metrics_read(const uint64_t *counter)
{
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

void sc_metrics_observe(sc_histogram_t *h, uint64_t duration_us)
{
    size_t i = 0;
    while (i != SC_METRICS_NUM_BUCKETS && duration_us > sc_metrics_bucket_us[i])
        ++i;
    if (i != SC_METRICS_NUM_BUCKETS)
        sc_metrics_count(&h->buckets[i]);
    add(&h->sum_us, duration_us);
    sc_metrics_count(&h->count);
}

void sc_metrics_count_denial(sc_service_metrics_t *s, const char *reason, int report_only)
{
    sc_metrics_count(&s->denials[find_reason(reason)][report_only ? 1 : 0]);
}

static void add_histogram(sc_histogram_t *sum, const sc_histogram_t *h)
{
    for (int b = 0; b != SC_METRICS_NUM_BUCKETS; ++b)
        sum->buckets[b] += sc_metrics_read(&h->buckets[b]);
    sum->count += sc_metrics_read(&h->count);
    sum->sum_us += sc_metrics_read(&h->sum_us);
}

static void add_service(sc_service_metrics_t *sum, const sc_service_metrics_t *s, size_t max_tenants)
{
    for (int code = 0; code != SC_METRICS_MAX_STATUS; ++code)
        sum->requests[code] += sc_metrics_read(&s->requests[code]);
    for (int r = 0; r != SC_METRICS_MAX_REASONS; ++r)
        for (int mode = 0; mode != 2; ++mode)
            sum->denials[r][mode] += sc_metrics_read(&s->denials[r][mode]);
    sum->rate_limited += sc_metrics_read(&s->rate_limited);
    add_histogram(&sum->duration, &s->duration);
    add_histogram(&sum->upstream, &s->upstream);
    for (size_t k = 0; s->tenant_requests != NULL && k <= max_tenants; ++k)
        sum->tenant_requests[k] += sc_metrics_read(&s->tenant_requests[k]);
}

void sc_metrics_add(sc_metrics_t *sum, const sc_metrics_t *m, size_t max_tenants)
{
    for (size_t i = 0; i != m->num_services; ++i)
        add_service(&sum->services[i], &m->services[i], max_tenants);
}

int sc_metrics_init(sc_metrics_t *m, size_t num_services, size_t max_tenants)
{
    m->num_services = num_services;
    if ((m->services = calloc(num_services, sizeof(*m->services))) == NULL)
        return -1;
    for (size_t i = 0; i != num_services && max_tenants != 0; ++i)
        if ((m->services[i].tenant_requests = calloc(max_tenants + 1, sizeof(uint64_t))) == NULL)
            return -1;
    return 0;
}

void sc_metrics_dispose(sc_metrics_t *m)
{
    for (size_t i = 0; m->services != NULL && i != m->num_services; ++i)
        free(m->services[i].tenant_requests);
    free(m->services);
    m->services = NULL;
}
