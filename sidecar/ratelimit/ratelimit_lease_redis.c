#include "ratelimit_lease_redis.h"

#include "redis_script.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * KEYS[1] the TAT (microseconds of Redis time, a float string, as ratelimit_redis writes it),
 * KEYS[2] the holders (sorted set: id -> last acquire), KEYS[3] the day's quota counter (or
 * absent); ARGV rate, burst, quota, need, want, give_back, holder id, holder window (ms).
 *
 * Tokens given back move the TAT back (never before now: a full bucket holds no more) and the
 * quota count down. Then up to `want` tokens are taken, but beyond the `need` of requests already
 * waiting only a share of what the bucket has left (a quarter, divided among the holders): near
 * its limit a tenant's leases shrink to what waiting requests spend at once, so nothing is kept
 * aside while another holder is refused. Returns {granted, remaining, retry_after_us, reset_us,
 * holders, short}: short is 1 when the bucket is empty (retry_after_us until the next token), 2
 * when the daily quota is.
 */
static const char script_text[] =
    "local rate, burst, quota = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local need, want, back, window = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[8])\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local interval = 1000000 / rate\n"
    "local tolerance = interval * burst\n"
    "local tat = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
    "if tat < now then tat = now end\n"
    "local used = 0\n"
    "if quota > 0 then used = tonumber(redis.call('GET', KEYS[3]) or '0') end\n"
    "if back > 0 then\n"
    "  tat = math.max(now, tat - back * interval)\n"
    "  used = math.max(0, used - back)\n"
    "end\n"
    "local holders = 1\n"
    "if want > 0 then\n"
    "  redis.call('ZADD', KEYS[2], now, ARGV[7])\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window * 1000)\n"
    "  redis.call('PEXPIRE', KEYS[2], window)\n"
    "  holders = redis.call('ZCARD', KEYS[2])\n"
    "end\n"
    "local avail = math.max(0, math.floor((tolerance - (tat - now)) / interval + 1e-9))\n"
    "local short = 0\n"
    "if quota > 0 and avail >= quota - used then\n"
    "  avail = math.max(0, quota - used)\n"
    "  short = 2\n"
    "end\n"
    "local grant = math.min(want, math.max(need, math.floor(avail / (4 * holders))), avail)\n"
    "if grant < avail or (grant == want and short == 0) then short = 0 elseif short == 0 then short = 1 end\n"
    "tat = tat + grant * interval\n"
    "if grant > 0 or back > 0 then\n"
    "  redis.call('SET', KEYS[1], string.format('%.17g', tat), 'PX', math.ceil(tolerance / 1000) + 1000)\n"
    "  if quota > 0 then redis.call('SET', KEYS[3], used + grant, 'EX', 90000) end\n"
    "end\n"
    "local retry = 0\n"
    "if short == 1 then retry = math.max(0, math.ceil(tat + interval - now - tolerance)) end\n"
    "return {grant, math.floor((tolerance - (tat - now)) / interval + 1e-9), retry, math.ceil(tat - now), holders, short}\n";

static sc_redis_script_t script = SC_REDIS_SCRIPT_INIT(script_text);

#define MAX_ARGS 12 /* numkeys, 3 keys, 8 values */

/* One call in flight. */
typedef struct pending {
    sc_ratelimit_lease_redis_cb cb;
    void *data;
} pending_t;

static void finish(pending_t *p, const sc_ratelimit_lease_grant_t *g, const char *err)
{
    p->cb(p->data, g, err);
    free(p);
}

static uint64_t nonnegative(const redisReply *r)
{
    return r->integer > 0 ? (uint64_t)r->integer : 0;
}

static int parse_grant(const redisReply *reply, sc_ratelimit_lease_grant_t *g)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 6)
        return -1;
    for (size_t i = 0; i != 6; ++i)
        if (reply->element[i]->type != REDIS_REPLY_INTEGER)
            return -1;
    g->granted = nonnegative(reply->element[0]);
    g->remaining = nonnegative(reply->element[1]);
    g->retry_after_ns = nonnegative(reply->element[2]) * 1000;
    g->reset_ns = nonnegative(reply->element[3]) * 1000;
    g->holders = nonnegative(reply->element[4]);
    g->short_of_tokens = reply->element[5]->integer != 0;
    g->quota_exhausted = reply->element[5]->integer == 2;
    return 0;
}

static void on_reply(redisReply *reply, void *data, const char *err)
{
    pending_t *p = data;
    sc_ratelimit_lease_grant_t g;
    if (err != NULL)
        finish(p, NULL, err);
    else if (parse_grant(reply, &g) != 0)
        finish(p, NULL, reply->type == REDIS_REPLY_ERROR ? "script error" : "unexpected reply");
    else
        finish(p, &g, NULL);
}

/* The call's arguments: the strings given, and numbers written into `numbers`. */
typedef struct args {
    const char *v[MAX_ARGS];
    int n;
    char numbers[MAX_ARGS][24];
} args_t;

static void put(args_t *a, const char *s)
{
    a->v[a->n++] = s;
}

static void put_u64(args_t *a, uint64_t v)
{
    snprintf(a->numbers[a->n], sizeof(a->numbers[0]), "%llu", (unsigned long long)v);
    put(a, a->numbers[a->n]);
}

int sc_ratelimit_lease_redis_call(sc_redis_cluster_t *client, const sc_ratelimit_lease_call_t *call, sc_ratelimit_lease_redis_cb cb,
                                  void *data)
{
    args_t a = {.n = 0};
    put_u64(&a, call->quota_key != NULL ? 3 : 2);
    put(&a, call->rate_key); /* routed by it: the script's keys share its slot (the tenant's tag) */
    put(&a, call->holders_key);
    if (call->quota_key != NULL)
        put(&a, call->quota_key);
    put_u64(&a, call->limit.rate);
    put_u64(&a, call->limit.burst);
    put_u64(&a, call->quota);
    put_u64(&a, call->need);
    put_u64(&a, call->want);
    put_u64(&a, call->give_back);
    put(&a, call->holder);
    put_u64(&a, SC_RATELIMIT_LEASE_HOLDER_WINDOW_MS);
    pending_t *p = malloc(sizeof(*p));
    if (p == NULL)
        return -1;
    *p = (pending_t){cb, data};
    if (sc_redis_script_call(client, &script, a.n, a.v, on_reply, p) != 0) {
        free(p);
        return -1;
    }
    return 0;
}
