#include "ratelimit.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "numfmt.h"
#include "metrics.h"
#include "ratelimit_lease.h"
#include "ratelimit_redis.h"
#include "waiter.h"

#define NS_PER_S 1000000000ULL
#define S_PER_DAY 86400

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* The limit for this request: the tenant's overrides, else the policy's default. */
static int choose_limit(sc_request_t *r)
{
    const sc_ratelimit_policy_t *policy = &r->service->policy->rate_limit;
    const sc_tenant_record_t *t = r->tenant_lookup.cached->record;
    if (policy->mode == SC_RATELIMIT_OFF && t->rate == 0 && t->quota_daily == 0)
        return 0;
    uint64_t rate = t->rate != 0 ? t->rate : policy->rate;
    uint64_t burst = t->burst != 0 ? t->burst : t->rate != 0 ? t->rate : policy->burst;
    r->ratelimit.limit.rate = rate > SC_GCRA_MAX_RATE ? SC_GCRA_MAX_RATE : rate;
    r->ratelimit.limit.burst = burst > SC_GCRA_MAX_BURST ? SC_GCRA_MAX_BURST : burst;
    r->ratelimit.quota = t->quota_daily;
    if (r->ratelimit.limit.rate == 0) /* a quota without any rate: limit by the quota alone */
        r->ratelimit.limit = (sc_gcra_limit_t){SC_GCRA_MAX_RATE, SC_GCRA_MAX_BURST};
    return 1;
}

static const char *service_scope(const sc_request_t *r)
{
    return r->service->policy->rate_limit.per_service ? r->service->name : NULL;
}

static sc_ratelimit_verdict_t verdict_of(const sc_limit_decision_t *d)
{
    return d->gcra.allowed ? SC_RATELIMIT_PASS : SC_RATELIMIT_REFUSED;
}

/* "TENANT" or "TENANT:SERVICE": the process-local key, built without printf */
static size_t local_key(const sc_request_t *r, char *key)
{
    const char *service = service_scope(r);
    memcpy(key, r->tenant.base, r->tenant.len);
    if (service == NULL)
        return r->tenant.len;
    size_t n = strlen(service);
    key[r->tenant.len] = ':';
    memcpy(key + r->tenant.len + 1, service, n);
    return r->tenant.len + 1 + n;
}

static sc_ratelimit_verdict_t decide_locally(sc_request_t *r)
{
    char key[SC_SCHEMA_KEY_MAX];
    size_t len = local_key(r, key);
    uint64_t day = (uint64_t)r->req->processed_at.at.tv_sec / S_PER_DAY;
    r->ratelimit.decision =
        sc_ratelimit_local_decide(r->env->local_limits, key, len, r->ratelimit.limit, r->ratelimit.quota, monotonic_ns(), day);
    return verdict_of(&r->ratelimit.decision);
}

/* Redis could not decide: the local limits apply, and the operator hears it once per outage. */
static sc_ratelimit_verdict_t fall_back(sc_request_t *r, const char *why)
{
    const sc_request_env_t *env = r->env;
    sc_metrics_count(env->ratelimit_fallbacks);
    if (!*env->ratelimit_degraded) {
        *env->ratelimit_degraded = 1;
        sc_log_warn("rate limiting: Redis cannot decide (%s); local limits apply until it can", why);
    }
    return decide_locally(r);
}

/* Redis answers again after an outage: the operator hears that too. */
static void redis_decides(const sc_request_env_t *env)
{
    if (*env->ratelimit_degraded) {
        *env->ratelimit_degraded = 0;
        sc_log_info("rate limiting: Redis decides again");
    }
}

static void on_redis_decision(void *data, const sc_limit_decision_t *d, const char *err)
{
    sc_request_t *r = sc_waiter_take(data);
    if (r == NULL)
        return; /* the request is gone */
    if (d == NULL) {
        fall_back(r, err);
    } else {
        r->ratelimit.decision = *d;
        redis_decides(r->env);
    }
    r->ratelimit.resume(r);
}

static int on_lease_decision(void *data, const sc_limit_decision_t *d, const char *err)
{
    sc_request_t *r = sc_waiter_take(data);
    if (r == NULL)
        return 0; /* the request is gone: its token goes back to the lease */
    if (d == NULL) {
        fall_back(r, err);
    } else {
        r->ratelimit.decision = *d;
        redis_decides(r->env);
    }
    r->ratelimit.resume(r);
    return 1;
}

/* The budget's Redis keys (one hash tag: the tenant's), and today's quota key when there is a quota. */
typedef struct redis_keys {
    char rate[SC_SCHEMA_KEY_MAX], holders[SC_SCHEMA_KEY_MAX], quota[SC_SCHEMA_KEY_MAX];
} redis_keys_t;

static void redis_keys(const sc_request_t *r, redis_keys_t *k)
{
    const char *prefix = r->env->start_config->redis->prefix;
    sc_schema_ratelimit_key(k->rate, prefix, r->tenant.base, r->tenant.len, service_scope(r));
    sc_schema_lease_holders_key(k->holders, prefix, r->tenant.base, r->tenant.len, service_scope(r));
    k->quota[0] = '\0';
    if (r->ratelimit.quota == 0)
        return;
    char day[16];
    struct tm tm;
    time_t now = r->req->processed_at.at.tv_sec;
    gmtime_r(&now, &tm);
    strftime(day, sizeof(day), "%Y%m%d", &tm);
    sc_schema_quota_key(k->quota, prefix, r->tenant.base, r->tenant.len, day);
}

/* Without a lease (queue or table full), one script call decides this request alone, exactly. */
static sc_ratelimit_verdict_t decide_alone(sc_request_t *r, const redis_keys_t *k, sc_waiter_t *w)
{
    sc_redis_cluster_t *client = r->env->redis;
    if (w == NULL || sc_ratelimit_redis_decide(client, k->rate, r->ratelimit.quota != 0 ? k->quota : NULL, r->ratelimit.limit,
                                               r->ratelimit.quota, on_redis_decision, w) != 0) {
        if (w != NULL)
            sc_waiter_take(w);
        return fall_back(r, "not connected");
    }
    sc_ratelimit_lease_count_alone(r->env->leases);
    return SC_RATELIMIT_WAIT;
}

/* From this worker's lease of the tenant's budget when it can (ratelimit_lease.h), else wait for
 * the budget's one acquire; while the connection is being made that waits for it (bounded: see
 * sc_redis_client_command). */
static sc_ratelimit_verdict_t decide_with_redis(sc_request_t *r)
{
    redis_keys_t k;
    redis_keys(r, &k);
    sc_ratelimit_lease_key_t key = {k.rate,
                                    k.holders,
                                    r->ratelimit.quota != 0 ? k.quota : NULL,
                                    r->ratelimit.limit,
                                    r->ratelimit.quota,
                                    (uint64_t)r->req->processed_at.at.tv_sec / S_PER_DAY};
    uint64_t now = monotonic_ns();
    if (sc_ratelimit_lease_decide(r->env->leases, &key, now, &r->ratelimit.decision))
        return verdict_of(&r->ratelimit.decision);
    sc_waiter_t *w = sc_waiter_new(&r->req->pool, r);
    if (w != NULL && sc_ratelimit_lease_wait(r->env->leases, r->env->redis, &key, now, on_lease_decision, w) == 0)
        return SC_RATELIMIT_WAIT;
    return decide_alone(r, &k, w);
}

sc_ratelimit_verdict_t sc_ratelimit_check(sc_request_t *r, void (*resume)(sc_request_t *r))
{
    if (!choose_limit(r))
        return SC_RATELIMIT_PASS;
    r->ratelimit.applied = 1;
    r->ratelimit.resume = resume;
    if (r->service->policy->rate_limit.mode == SC_RATELIMIT_REDIS)
        return decide_with_redis(r);
    return decide_locally(r);
}

const sc_denial_t *sc_ratelimit_denial(const sc_request_t *r)
{
    return r->ratelimit.decision.quota_exhausted ? &sc_deny_quota_exceeded : &sc_deny_rate_limited;
}

static uint64_t ceil_seconds(uint64_t ns)
{
    return (ns + NS_PER_S - 1) / NS_PER_S;
}

/* Appends a literal and returns the new end. */
static char *append(char *p, const char *s, size_t len)
{
    memcpy(p, s, len);
    return p + len;
}
#define APPEND_LIT(p, lit) append((p), (lit), sizeof(lit) - 1)

void sc_ratelimit_add_headers(sc_request_t *r)
{
    h2o_req_t *req = r->req;
    const sc_limit_decision_t *d = &r->ratelimit.decision;
    char *policy = h2o_mem_alloc_pool(&req->pool, 64), *state = h2o_mem_alloc_pool(&req->pool, 64), *p;
    p = APPEND_LIT(policy, "\"tenant\";q=");
    p += sc_numfmt_uint(p, r->ratelimit.limit.rate);
    p = APPEND_LIT(p, ";w=1");
    size_t plen = (size_t)(p - policy);
    uint64_t retry_s = 0;
    if (d->quota_exhausted) {
        retry_s = S_PER_DAY - (uint64_t)req->processed_at.at.tv_sec % S_PER_DAY; /* until UTC midnight */
    } else if (!d->gcra.allowed) {
        retry_s = ceil_seconds(d->gcra.retry_after_ns);
    }
    if (!d->gcra.allowed && retry_s == 0)
        retry_s = 1; /* Retry-After is at least one second */
    uint64_t reset_s = d->gcra.allowed ? ceil_seconds(d->gcra.reset_ns) : retry_s;
    p = APPEND_LIT(state, "\"tenant\";r=");
    p += sc_numfmt_uint(p, d->gcra.remaining);
    p = APPEND_LIT(p, ";t=");
    p += sc_numfmt_uint(p, reset_s);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("ratelimit-policy"), 0, NULL, policy, plen);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("ratelimit"), 0, NULL, state, (size_t)(p - state));
    if (!d->gcra.allowed) {
        char *retry = h2o_mem_alloc_pool(&req->pool, SC_UINT_MAX_DIGITS);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, retry, sc_numfmt_uint(retry, retry_s));
    }
}
