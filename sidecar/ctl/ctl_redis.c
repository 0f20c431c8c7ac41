#include "ctl_redis.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "ctl_args.h"
#include "schema.h"

#define TX_CONFLICT (-1) /* EXEC aborted by WATCH: prepare again */

/* A command being built: heap strings with their lengths. */
typedef struct argv_buf {
    char **v;
    size_t *lens;
    size_t n;
} argv_buf_t;

struct ctl_tx {
    ctl_redis_t *redis;
    argv_buf_t *cmds; /* the writes, then the XADD, then the PUBLISHes, in that order at commit */
    size_t num_cmds;
    argv_buf_t audit;
    argv_buf_t *publishes;
    size_t num_publishes;
};

/* ------------------------------------------------------------------ argument vectors */

static void argv_push(argv_buf_t *a, const char *s)
{
    a->v = ctl_xrealloc(a->v, (a->n + 1) * sizeof(*a->v));
    a->lens = ctl_xrealloc(a->lens, (a->n + 1) * sizeof(*a->lens));
    a->v[a->n] = ctl_xstrdup(s);
    a->lens[a->n++] = strlen(s);
}

static void argv_push_list(argv_buf_t *a, const char *arg0, va_list ap)
{
    for (const char *s = arg0; s != NULL; s = va_arg(ap, const char *))
        argv_push(a, s);
}

static void argv_free(argv_buf_t *a)
{
    for (size_t i = 0; i != a->n; ++i)
        free(a->v[i]);
    free(a->v);
    free(a->lens);
    *a = (argv_buf_t){0};
}

/* ------------------------------------------------------------------ commands */

static struct timeval ms_to_timeval(uint64_t ms)
{
    return (struct timeval){.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
}

/*
 * The reply, or NULL with the reason. Error replies are single protocol lines and never echo
 * arguments, so a failed AUTH does not reveal the password.
 */
static redisReply *run(ctl_redis_t *r, const argv_buf_t *a, ctl_err_t *err)
{
    redisReply *reply = redisCommandArgv(r->ctx, (int)a->n, (const char **)a->v, a->lens);
    if (reply == NULL) {
        ctl_fail(err, CTL_EXIT_REDIS, "lost the connection to Redis at %s: %s", r->config->url,
                 r->ctx->errstr[0] != '\0' ? r->ctx->errstr : "no reply");
        return NULL;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        ctl_fail(err, CTL_EXIT_REDIS, "Redis at %s refused %s: %s", r->config->url, a->v[0], reply->str);
        freeReplyObject(reply);
        return NULL;
    }
    return reply;
}

redisReply *ctl_redis_cmd(ctl_redis_t *r, ctl_err_t *err, const char *arg0, ...)
{
    argv_buf_t a = {0};
    va_list ap;
    va_start(ap, arg0);
    argv_push_list(&a, arg0, ap);
    va_end(ap);
    redisReply *reply = run(r, &a, err);
    argv_free(&a);
    return reply;
}

/* Runs a command whose reply does not matter beyond success. */
static int run_ok(redisReply *reply)
{
    if (reply == NULL)
        return CTL_EXIT_REDIS;
    freeReplyObject(reply);
    return CTL_EXIT_OK;
}

int ctl_redis_hgetall(ctl_redis_t *r, const char *key, ctl_record_t *rec, ctl_err_t *err)
{
    redisReply *reply = ctl_redis_cmd(r, err, "HGETALL", key, NULL);
    if (reply == NULL)
        return CTL_EXIT_REDIS;
    int rc = ctl_record_from_reply(rec, reply);
    freeReplyObject(reply);
    return rc == 0 ? CTL_EXIT_OK : ctl_fail(err, CTL_EXIT_REDIS, "unexpected reply to HGETALL %s", key);
}

int ctl_redis_watch(ctl_redis_t *r, const char *key, ctl_err_t *err)
{
    return run_ok(ctl_redis_cmd(r, err, "WATCH", key, NULL));
}

/* ------------------------------------------------------------------ the session */

/* AUTH [user] password, SELECT db, then PING: an unauthenticated session fails here (NOAUTH). */
static int handshake(ctl_redis_t *r, ctl_err_t *err)
{
    const sc_redis_config_t *c = r->config;
    char db[16];
    if (c->password != NULL) {
        redisReply *reply = c->user != NULL ? ctl_redis_cmd(r, err, "AUTH", c->user, c->password, NULL)
                                            : ctl_redis_cmd(r, err, "AUTH", c->password, NULL);
        if (run_ok(reply) != CTL_EXIT_OK)
            return CTL_EXIT_REDIS;
    }
    snprintf(db, sizeof(db), "%u", c->db);
    if (c->db != 0 && run_ok(ctl_redis_cmd(r, err, "SELECT", db, NULL)) != CTL_EXIT_OK)
        return CTL_EXIT_REDIS;
    return run_ok(ctl_redis_cmd(r, err, "PING", NULL));
}

int ctl_redis_connect(const sc_redis_config_t *config, const char *actor, ctl_redis_t **out, ctl_err_t *err)
{
    redisContext *ctx = redisConnectWithTimeout(config->host, config->port, ms_to_timeval(config->connect_timeout_ms));
    if (ctx == NULL || ctx->err != 0) {
        int rc = ctl_fail(err, CTL_EXIT_REDIS, "cannot connect to Redis at %s: %s", config->url,
                          ctx != NULL ? ctx->errstr : "out of memory");
        redisFree(ctx);
        return rc;
    }
    uint64_t timeout = config->timeout_ms > CTL_COMMAND_TIMEOUT_MS ? config->timeout_ms : CTL_COMMAND_TIMEOUT_MS;
    redisSetTimeout(ctx, ms_to_timeval(timeout));
    ctl_redis_t *r = ctl_xmalloc(sizeof(*r));
    *r = (ctl_redis_t){ctx, config, actor, CTL_AUDIT_DEFAULT_MAX_ENTRIES};
    int rc = handshake(r, err);
    if (rc != CTL_EXIT_OK) {
        ctl_redis_close(r);
        return rc;
    }
    *out = r;
    return CTL_EXIT_OK;
}

void ctl_redis_close(ctl_redis_t *r)
{
    if (r == NULL)
        return;
    redisFree(r->ctx);
    free(r);
}

/* ------------------------------------------------------------------ building a transaction */

static argv_buf_t *tx_new_cmd(argv_buf_t **list, size_t *count)
{
    *list = ctl_xrealloc(*list, (*count + 1) * sizeof(**list));
    argv_buf_t *a = &(*list)[(*count)++];
    *a = (argv_buf_t){0};
    return a;
}

void ctl_tx_add(ctl_tx_t *tx, const char *arg0, ...)
{
    va_list ap;
    va_start(ap, arg0);
    argv_push_list(tx_new_cmd(&tx->cmds, &tx->num_cmds), arg0, ap);
    va_end(ap);
}

void ctl_tx_write_record(ctl_tx_t *tx, const char *key, const ctl_record_t *rec)
{
    argv_buf_t set = {0}, del = {0};
    argv_push(&set, "HSET");
    argv_push(&set, key);
    argv_push(&del, "HDEL");
    argv_push(&del, key);
    for (size_t i = 0; i != rec->count; ++i) {
        if (rec->values[i] != NULL) {
            argv_push(&set, rec->names[i]);
            argv_push(&set, rec->values[i]);
        } else {
            argv_push(&del, rec->names[i]);
        }
    }
    argv_buf_t *cmds[] = {&set, &del};
    for (size_t i = 0; i != 2; ++i) {
        if (cmds[i]->n > 2)
            *tx_new_cmd(&tx->cmds, &tx->num_cmds) = *cmds[i]; /* ownership moves into the transaction */
        else
            argv_free(cmds[i]);
    }
}

void ctl_tx_audit(ctl_tx_t *tx, const char *action, const char *tenant, const char *key_id, const char *detail)
{
    char key[SC_SCHEMA_KEY_MAX], at[24], maxlen[24];
    argv_free(&tx->audit);
    sc_schema_global_key(key, tx->redis->config->prefix, "audit");
    snprintf(at, sizeof(at), "%lld", (long long)time(NULL));
    /* "~": Redis trims whole macro nodes, cheaply, keeping at least the last N entries */
    snprintf(maxlen, sizeof(maxlen), "%llu", (unsigned long long)tx->redis->audit_max_entries);
    argv_buf_t *a = &tx->audit;
    const char *head[] = {"XADD", key, "MAXLEN", "~", maxlen, "*", "actor", tx->redis->actor, "action", action, "tenant", tenant};
    for (size_t i = 0; i != sizeof(head) / sizeof(head[0]); ++i)
        argv_push(a, head[i]);
    if (key_id != NULL) {
        argv_push(a, "key_id");
        argv_push(a, key_id);
    }
    const char *tail[] = {"detail", detail, "at", at};
    for (size_t i = 0; i != sizeof(tail) / sizeof(tail[0]); ++i)
        argv_push(a, tail[i]);
}

void ctl_tx_invalidate(ctl_tx_t *tx, const char *tenant, const char *sha256_hex)
{
    char channel[SC_SCHEMA_KEY_MAX], message[SC_INVALIDATION_MAX];
    sc_schema_invalidation_format(message, tenant, sha256_hex);
    sc_schema_global_key(channel, tx->redis->config->prefix, "invalidate");
    argv_buf_t *a = tx_new_cmd(&tx->publishes, &tx->num_publishes);
    argv_push(a, "PUBLISH");
    argv_push(a, channel);
    argv_push(a, message);
}

static void tx_free(ctl_tx_t *tx)
{
    for (size_t i = 0; i != tx->num_cmds; ++i)
        argv_free(&tx->cmds[i]);
    for (size_t i = 0; i != tx->num_publishes; ++i)
        argv_free(&tx->publishes[i]);
    free(tx->cmds);
    free(tx->publishes);
    argv_free(&tx->audit);
}

/* ------------------------------------------------------------------ committing */

/* Queues one command after MULTI; anything but QUEUED (a syntax error) aborts the transaction. */
static int queue(ctl_redis_t *r, const argv_buf_t *a, ctl_err_t *err)
{
    redisReply *reply = run(r, a, err);
    if (reply == NULL) {
        run_ok(ctl_redis_cmd(r, &(ctl_err_t){{0}}, "DISCARD", NULL));
        return CTL_EXIT_REDIS;
    }
    freeReplyObject(reply);
    return CTL_EXIT_OK;
}

/* EXEC's reply: nil when a watched key changed; otherwise one reply per command. */
static int check_exec(ctl_redis_t *r, redisReply *reply, ctl_err_t *err)
{
    int rc = CTL_EXIT_OK;
    if (reply->type == REDIS_REPLY_NIL)
        rc = TX_CONFLICT;
    else if (reply->type != REDIS_REPLY_ARRAY)
        rc = ctl_fail(err, CTL_EXIT_REDIS, "unexpected reply to EXEC from Redis at %s", r->config->url);
    for (size_t i = 0; rc == CTL_EXIT_OK && i != reply->elements; ++i)
        if (reply->element[i]->type == REDIS_REPLY_ERROR)
            rc = ctl_fail(err, CTL_EXIT_REDIS, "Redis at %s failed a write of the transaction (others were applied): %s",
                          r->config->url, reply->element[i]->str);
    freeReplyObject(reply);
    return rc;
}

static int commit(ctl_redis_t *r, ctl_tx_t *tx, ctl_err_t *err)
{
    int rc = CTL_EXIT_OK;
    if (tx->audit.n == 0)
        return ctl_fail(err, CTL_EXIT_REFUSED, "internal error: a change without an audit entry was not committed");
    if (run_ok(ctl_redis_cmd(r, err, "MULTI", NULL)) != CTL_EXIT_OK)
        return CTL_EXIT_REDIS;
    for (size_t i = 0; i != tx->num_cmds && rc == CTL_EXIT_OK; ++i)
        rc = queue(r, &tx->cmds[i], err);
    if (rc == CTL_EXIT_OK)
        rc = queue(r, &tx->audit, err);
    for (size_t i = 0; i != tx->num_publishes && rc == CTL_EXIT_OK; ++i)
        rc = queue(r, &tx->publishes[i], err);
    if (rc != CTL_EXIT_OK)
        return rc;
    redisReply *reply = ctl_redis_cmd(r, err, "EXEC", NULL);
    return reply != NULL ? check_exec(r, reply, err) : CTL_EXIT_REDIS;
}

int ctl_redis_transact(ctl_redis_t *r, ctl_tx_prepare_cb prepare, void *data, ctl_err_t *err)
{
    for (int attempt = 0; attempt != CTL_TX_ATTEMPTS; ++attempt) {
        ctl_tx_t tx = {.redis = r};
        int rc = prepare(r, &tx, data, err);
        if (rc == CTL_EXIT_OK)
            rc = commit(r, &tx, err);
        else if (rc != CTL_EXIT_REDIS)
            run_ok(ctl_redis_cmd(r, &(ctl_err_t){{0}}, "UNWATCH", NULL)); /* the session may go on (import) */
        tx_free(&tx);
        if (rc != TX_CONFLICT)
            return rc;
    }
    return ctl_fail(err, CTL_EXIT_REFUSED, "the records changed concurrently %d times in a row; nothing was written, try again",
                    CTL_TX_ATTEMPTS);
}
