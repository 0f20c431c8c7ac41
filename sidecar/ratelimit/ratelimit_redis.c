#include "ratelimit_redis.h"

#include "redis_script.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * KEYS[1] the TAT (microseconds of Redis time, as a float string), KEYS[2] the day's quota
 * counter (or absent); ARGV rate, burst, quota. Returns {allowed, remaining, retry_after_us,
 * reset_us}; retry_after_us is -1 when the daily quota is exhausted.
 */
static const char script_text[] =
    "local rate, burst, quota = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "if quota > 0 and tonumber(redis.call('GET', KEYS[2]) or '0') >= quota then\n"
    "  return {0, 0, -1, 0}\n"
    "end\n"
    "local interval = 1000000 / rate\n"
    "local tolerance = interval * burst\n"
    "local tat = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
    "if tat < now then tat = now end\n"
    "local nxt = tat + interval\n"
    "if nxt - now > tolerance then\n"
    "  return {0, 0, math.ceil(nxt - now - tolerance), math.ceil(tat - now)}\n"
    "end\n"
    "redis.call('SET', KEYS[1], string.format('%.17g', nxt), 'PX', math.ceil(tolerance / 1000) + 1000)\n"
    "if quota > 0 then\n"
    "  redis.call('INCR', KEYS[2])\n"
    "  redis.call('EXPIRE', KEYS[2], 90000)\n"
    "end\n"
    "return {1, math.floor((tolerance - (nxt - now)) / interval), 0, math.ceil(nxt - now)}\n";

static sc_redis_script_t script = SC_REDIS_SCRIPT_INIT(script_text);

/* One decision in flight. */
typedef struct call {
    sc_ratelimit_redis_cb cb;
    void *data;
} call_t;

static void finish(call_t *c, const sc_limit_decision_t *d, const char *err)
{
    c->cb(c->data, d, err);
    free(c);
}

static int parse_decision(const redisReply *reply, sc_limit_decision_t *d)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4)
        return -1;
    for (size_t i = 0; i != 4; ++i)
        if (reply->element[i]->type != REDIS_REPLY_INTEGER)
            return -1;
    long long allowed = reply->element[0]->integer, remaining = reply->element[1]->integer, retry_us = reply->element[2]->integer,
              reset_us = reply->element[3]->integer;
    memset(d, 0, sizeof(*d));
    d->gcra.allowed = allowed == 1;
    d->gcra.remaining = remaining > 0 ? (uint64_t)remaining : 0;
    d->quota_exhausted = retry_us == -1;
    d->gcra.retry_after_ns = retry_us > 0 ? (uint64_t)retry_us * 1000 : 0;
    d->gcra.reset_ns = reset_us > 0 ? (uint64_t)reset_us * 1000 : 0;
    return 0;
}

static void on_reply(redisReply *reply, void *data, const char *err)
{
    call_t *c = data;
    sc_limit_decision_t d;
    if (err != NULL)
        finish(c, NULL, err);
    else if (parse_decision(reply, &d) != 0)
        finish(c, NULL, reply->type == REDIS_REPLY_ERROR ? "script error" : "unexpected reply");
    else
        finish(c, &d, NULL);
}

int sc_ratelimit_redis_decide(sc_redis_cluster_t *client, const char *rate_key, const char *quota_key, sc_gcra_limit_t limit,
                              uint64_t quota, sc_ratelimit_redis_cb cb, void *data)
{
    char rate[24], burst[24], quota_text[24];
    const char *args[6];
    int argc = 0;
    snprintf(rate, sizeof(rate), "%llu", (unsigned long long)limit.rate);
    snprintf(burst, sizeof(burst), "%llu", (unsigned long long)limit.burst);
    snprintf(quota_text, sizeof(quota_text), "%llu", (unsigned long long)quota);
    args[argc++] = quota_key != NULL ? "2" : "1";
    args[argc++] = rate_key; /* the tenant's hash tag, as the quota key's: one slot */
    if (quota_key != NULL)
        args[argc++] = quota_key;
    args[argc++] = rate;
    args[argc++] = burst;
    args[argc++] = quota_text;
    call_t *c = malloc(sizeof(*c));
    if (c == NULL)
        return -1;
    *c = (call_t){cb, data};
    if (sc_redis_script_call(client, &script, argc, args, on_reply, c) != 0) {
        free(c);
        return -1;
    }
    return 0;
}
