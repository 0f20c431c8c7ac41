#include "ratelimit_redis.h"

#include "schema.h"

#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * KEYS[1] the TAT (microseconds of Redis time, as a float string), KEYS[2] the day's quota
 * counter (or absent); ARGV rate, burst, quota. Returns {allowed, remaining, retry_after_us,
 * reset_us}; retry_after_us is -1 when the daily quota is exhausted.
 */
static const char script[] = "local rate, burst, quota = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
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

static char script_sha1[SHA_DIGEST_LENGTH * 2 + 1];
static pthread_once_t sha1_once = PTHREAD_ONCE_INIT;

static void compute_sha1(void)
{
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)script, sizeof(script) - 1, digest);
    for (size_t i = 0; i != sizeof(digest); ++i)
        sprintf(script_sha1 + i * 2, "%02x", digest[i]);
}

static const char *sha1_hex(void)
{
    pthread_once(&sha1_once, compute_sha1);
    return script_sha1;
}

/* One decision in flight: what is needed to send it again with EVAL after NOSCRIPT. */
typedef struct call {
    sc_redis_cluster_t *client;
    sc_ratelimit_redis_cb cb;
    void *data;
    int retried;
    int argc;
    char args[6][SC_SCHEMA_KEY_MAX];
} call_t;

static int send_call(call_t *c);

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
    if (err != NULL) {
        finish(c, NULL, err);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0 && !c->retried) {
        c->retried = 1; /* the script cache was emptied (restart, failover): EVAL loads it again */
        if (send_call(c) != 0)
            finish(c, NULL, "not connected");
        return;
    }
    if (parse_decision(reply, &d) != 0) {
        finish(c, NULL, reply->type == REDIS_REPLY_ERROR ? "script error" : "unexpected reply");
        return;
    }
    finish(c, &d, NULL);
}

static int send_call(call_t *c)
{
    const char *argv[8];
    size_t argvlen[8];
    argv[0] = c->retried ? "EVAL" : "EVALSHA";
    argv[1] = c->retried ? script : sha1_hex();
    argvlen[0] = strlen(argv[0]);
    argvlen[1] = c->retried ? sizeof(script) - 1 : strlen(argv[1]);
    for (int i = 0; i != c->argc; ++i) {
        argv[2 + i] = c->args[i];
        argvlen[2 + i] = strlen(c->args[i]);
    }
    /* args[1], the rate key, carries the tenant's hash tag, as the quota key does: one slot */
    return sc_redis_cluster_command(c->client, c->args[1], strlen(c->args[1]), on_reply, c, 2 + c->argc, argv, argvlen);
}

int sc_ratelimit_redis_decide(sc_redis_cluster_t *client, const char *rate_key, const char *quota_key, sc_gcra_limit_t limit,
                              uint64_t quota, sc_ratelimit_redis_cb cb, void *data)
{
    call_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -1;
    c->client = client;
    c->cb = cb;
    c->data = data;
    int nkeys = quota_key != NULL ? 2 : 1;
    snprintf(c->args[0], sizeof(c->args[0]), "%d", nkeys);
    snprintf(c->args[1], sizeof(c->args[1]), "%s", rate_key);
    if (quota_key != NULL)
        snprintf(c->args[2], sizeof(c->args[2]), "%s", quota_key);
    snprintf(c->args[1 + nkeys], sizeof(c->args[0]), "%llu", (unsigned long long)limit.rate);
    snprintf(c->args[2 + nkeys], sizeof(c->args[0]), "%llu", (unsigned long long)limit.burst);
    snprintf(c->args[3 + nkeys], sizeof(c->args[0]), "%llu", (unsigned long long)quota);
    c->argc = 4 + nkeys;
    if (send_call(c) != 0) {
        free(c);
        return -1;
    }
    return 0;
}
