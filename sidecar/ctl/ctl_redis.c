#include "ctl_redis.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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
static redisReply *checked(ctl_redis_t *r, redisContext *ctx, const argv_buf_t *a, redisReply *reply, ctl_err_t *err)
{
    if (reply == NULL) {
        ctl_fail(err, CTL_EXIT_REDIS, "lost the connection to Redis at %s: %s", r->config->url,
                 ctx->errstr[0] != '\0' ? ctx->errstr : "no reply");
        return NULL;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        ctl_fail(err, CTL_EXIT_REDIS, "Redis at %s refused %s: %s", r->config->url, a->v[0], reply->str);
        freeReplyObject(reply);
        return NULL;
    }
    return reply;
}

static redisReply *send_on(redisContext *ctx, const argv_buf_t *a)
{
    return redisCommandArgv(ctx, (int)a->n, (const char **)a->v, a->lens);
}

static redisContext *node_context(ctl_redis_t *r, int node, ctl_err_t *err);

/* The node a command goes to: its key's (a WATCH of a tenant's key makes it the transaction's),
 * else the transaction's, else the seed. */
static int route(ctl_redis_t *r, const argv_buf_t *a)
{
    if (a->n < 2 || !ctl_cluster_has_key(a->v[0]))
        return r->node >= 0 ? r->node : 0;
    int node = sc_cluster_map_lookup(&r->cluster->map, sc_cluster_slot_of(a->v[1], a->lens[1]));
    node = node >= 0 ? node : 0;
    size_t tag_len;
    const char *tag = ctl_cluster_tag(a->v[1], &tag_len);
    if (strcasecmp(a->v[0], "WATCH") == 0 && tag != NULL && r->node < 0) {
        r->node = node;
        snprintf(r->tx_tenant, sizeof(r->tx_tenant), "%.*s", (int)tag_len, tag);
    }
    return node;
}

/* After a MOVED: the slot is the named node's, and the rest of the map is read again. */
static int apply_moved(ctl_redis_t *r, const sc_cluster_redirect_t *moved, int from)
{
    char why[256];
    int target = sc_cluster_map_moved(&r->cluster->map, moved, r->cluster->map.nodes[from].host);
    if (target >= 0 && node_context(r, target, &(ctl_err_t){{0}}) != NULL)
        ctl_cluster_load_slots(r->cluster, target, why, sizeof(why)); /* best effort: the MOVED alone is enough */
    return target;
}

/* A command on a cluster: to its node, following MOVED and ASK (at most 3 times). Within a
 * transaction a redirection cannot be followed (the WATCH is on the node that lost the slot):
 * the transaction is prepared again. */
static redisReply *run_cluster(ctl_redis_t *r, const argv_buf_t *a, ctl_err_t *err)
{
    int node = route(r, a), asking = 0;
    for (int hops = 0;; ++hops) {
        redisContext *ctx = node_context(r, node, err);
        if (ctx == NULL)
            return NULL;
        if (asking)
            freeReplyObject(redisCommand(ctx, "ASKING"));
        redisReply *reply = send_on(ctx, a);
        sc_cluster_redirect_t rd;
        if (reply == NULL || reply->type != REDIS_REPLY_ERROR || hops == 3 ||
            sc_cluster_slot_parse_redirect(reply->str, reply->len, &rd) != 0)
            return checked(r, ctx, a, reply, err);
        if (r->node >= 0) {
            if (rd.kind == SC_CLUSTER_REDIRECT_MOVED)
                apply_moved(r, &rd, node);
            r->redirected = 1;
            ctl_fail(err, CTL_EXIT_REDIS, "slot %u of Redis Cluster %s moved during the change (%s)", rd.slot, r->config->url,
                     reply->str);
            freeReplyObject(reply);
            return NULL;
        }
        freeReplyObject(reply);
        asking = rd.kind == SC_CLUSTER_REDIRECT_ASK;
        node = asking
                   ? sc_cluster_map_node(&r->cluster->map, rd.host[0] != '\0' ? rd.host : r->cluster->map.nodes[node].host, rd.port)
                   : apply_moved(r, &rd, node);
        if (node < 0)
            return ctl_fail(err, CTL_EXIT_REDIS, "Redis Cluster %s redirected %s to a node that is not a numeric address",
                            r->config->url, a->v[0]),
                   NULL;
    }
}

static redisReply *run(ctl_redis_t *r, const argv_buf_t *a, ctl_err_t *err)
{
    if (r->cluster != NULL)
        return run_cluster(r, a, err);
    return checked(r, r->ctx, a, send_on(r->ctx, a), err);
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
    size_t len;
    /* on a cluster a global key lives in another slot than the tenant's transaction: its writes
     * come after EXEC, and a stale or missing entry is repaired (see the top of ctl_redis.h) */
    if (r->cluster != NULL && ctl_cluster_tag(key, &len) == NULL)
        return CTL_EXIT_OK;
    return run_ok(ctl_redis_cmd(r, err, "WATCH", key, NULL));
}

/* ------------------------------------------------------------------ the session */

/* One handshake step on a connection not yet routed: CTL_EXIT_OK or CTL_EXIT_REDIS. */
static int step(ctl_redis_t *r, redisContext *ctx, ctl_err_t *err, const char *const *args, size_t n)
{
    argv_buf_t a = {0};
    for (size_t i = 0; i != n; ++i)
        argv_push(&a, args[i]);
    int rc = run_ok(checked(r, ctx, &a, send_on(ctx, &a), err));
    argv_free(&a);
    return rc;
}

/* AUTH [user] password, SELECT db, then PING: an unauthenticated session fails here (NOAUTH). */
static int handshake(ctl_redis_t *r, redisContext *ctx, ctl_err_t *err)
{
    const sc_redis_config_t *c = r->config;
    char db[16];
    snprintf(db, sizeof(db), "%u", c->db);
    const char *auth_user[] = {"AUTH", c->user, c->password}, *auth[] = {"AUTH", c->password}, *select[] = {"SELECT", db},
               *ping[] = {"PING"};
    if (c->password != NULL && (c->user != NULL ? step(r, ctx, err, auth_user, 3) : step(r, ctx, err, auth, 2)) != CTL_EXIT_OK)
        return CTL_EXIT_REDIS;
    if (c->db != 0 && step(r, ctx, err, select, 2) != CTL_EXIT_OK)
        return CTL_EXIT_REDIS;
    return step(r, ctx, err, ping, 1);
}

/* A connection to host:port, logged in. */
static redisContext *open_context(ctl_redis_t *r, const char *host, unsigned port, ctl_err_t *err)
{
    const sc_redis_config_t *config = r->config;
    redisContext *ctx = redisConnectWithTimeout(host, (int)port, ms_to_timeval(config->connect_timeout_ms));
    if (ctx == NULL || ctx->err != 0) {
        const char *why = ctx != NULL ? ctx->errstr : "out of memory";
        if (r->cluster != NULL)
            ctl_fail(err, CTL_EXIT_REDIS, "cannot connect to node %s:%u of Redis Cluster %s: %s", host, port, config->url, why);
        else
            ctl_fail(err, CTL_EXIT_REDIS, "cannot connect to Redis at %s: %s", config->url, why);
        redisFree(ctx);
        return NULL;
    }
    uint64_t timeout = config->timeout_ms > CTL_COMMAND_TIMEOUT_MS ? config->timeout_ms : CTL_COMMAND_TIMEOUT_MS;
    redisSetTimeout(ctx, ms_to_timeval(timeout));
    if (handshake(r, ctx, err) != CTL_EXIT_OK) {
        redisFree(ctx);
        return NULL;
    }
    return ctx;
}

static redisContext *node_context(ctl_redis_t *r, int node, ctl_err_t *err)
{
    ctl_cluster_t *c = r->cluster;
    if (c->ctx[node] == NULL)
        c->ctx[node] = open_context(r, c->map.nodes[node].host, c->map.nodes[node].port, err);
    return c->ctx[node];
}

/* Cluster mode: the seed's connection becomes node 0's, and the slot map is read from it. */
static int open_cluster(ctl_redis_t *r, ctl_err_t *err)
{
    char why[256];
    if ((r->cluster = ctl_cluster_new(r->config->host, r->config->port, r->ctx)) == NULL)
        return ctl_fail(err, CTL_EXIT_REDIS, "out of memory");
    r->ctx = NULL;
    if (ctl_cluster_load_slots(r->cluster, 0, why, sizeof(why)) != 0)
        return ctl_fail(err, CTL_EXIT_REDIS, "Redis at %s is not a usable cluster node (CLUSTER SLOTS: %s)", r->config->url, why);
    return CTL_EXIT_OK;
}

int ctl_redis_connect(const sc_redis_config_t *config, const char *actor, ctl_redis_t **out, ctl_err_t *err)
{
    ctl_redis_t *r = ctl_xmalloc(sizeof(*r));
    *r = (ctl_redis_t){.config = config, .actor = actor, .audit_max_entries = CTL_AUDIT_DEFAULT_MAX_ENTRIES, .node = -1};
    if ((r->ctx = open_context(r, config->host, config->port, err)) == NULL ||
        (config->cluster && open_cluster(r, err) != CTL_EXIT_OK)) {
        ctl_redis_close(r);
        return CTL_EXIT_REDIS;
    }
    *out = r;
    return CTL_EXIT_OK;
}

void ctl_redis_close(ctl_redis_t *r)
{
    if (r == NULL)
        return;
    if (r->ctx != NULL)
        redisFree(r->ctx);
    ctl_cluster_free(r->cluster);
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

/* ------------------------------------------------------------------ Redis Cluster: the second step */

/* A queued write to a global key (no hash tag): another slot than the tenant's transaction. */
static int is_global(const argv_buf_t *a)
{
    size_t len;
    return a->n >= 2 && ctl_cluster_has_key(a->v[0]) && ctl_cluster_tag(a->v[1], &len) == NULL;
}

/* The tenant's writes and the PUBLISHes in one transaction on its node; then, applied, the global
 * keys' writes and the audit entry. */
static int commit_cluster(ctl_redis_t *r, ctl_tx_t *tx, ctl_err_t *err)
{
    int rc = CTL_EXIT_OK;
    if (tx->audit.n == 0)
        return ctl_fail(err, CTL_EXIT_REFUSED, "internal error: a change without an audit entry was not committed");
    if (run_ok(ctl_redis_cmd(r, err, "MULTI", NULL)) != CTL_EXIT_OK)
        return CTL_EXIT_REDIS;
    for (size_t i = 0; i != tx->num_cmds && rc == CTL_EXIT_OK; ++i)
        if (!is_global(&tx->cmds[i]))
            rc = queue(r, &tx->cmds[i], err);
    for (size_t i = 0; i != tx->num_publishes && rc == CTL_EXIT_OK; ++i)
        rc = queue(r, &tx->publishes[i], err);
    if (rc != CTL_EXIT_OK)
        return rc;
    redisReply *reply = ctl_redis_cmd(r, err, "EXEC", NULL);
    if (reply == NULL || (rc = check_exec(r, reply, err)) != CTL_EXIT_OK)
        return reply == NULL ? CTL_EXIT_REDIS : rc;
    r->node = -1; /* applied: what follows is routed by key, redirections followed */
    for (size_t i = 0; i != tx->num_cmds && rc == CTL_EXIT_OK; ++i)
        if (is_global(&tx->cmds[i]))
            rc = run_ok(run(r, &tx->cmds[i], err));
    if (rc == CTL_EXIT_OK)
        rc = run_ok(run(r, &tx->audit, err));
    if (rc != CTL_EXIT_OK)
        ctl_fail_prefix(err, rc, "the change was applied, not yet all its index and audit entries (run the command again): ");
    return rc;
}

/*
 * The global index entries of a tenant, made right from its own keys: in PREFIX"tenants" exactly
 * when its record exists, and each key id its PREFIX{T}:keyids lists indexed to it. Idempotent:
 * what a re-run uses to mend an interruption between the two steps.
 */
static int repair_indexes(ctl_redis_t *r, const char *tenant, ctl_err_t *err)
{
    char key[SC_SCHEMA_KEY_MAX], keyids[SC_SCHEMA_KEY_MAX], tenants[SC_SCHEMA_KEY_MAX], index[SC_SCHEMA_KEY_MAX];
    const char *prefix = r->config->prefix;
    sc_schema_tenant_key(key, prefix, tenant, strlen(tenant));
    sc_schema_keyids_key(keyids, prefix, tenant);
    sc_schema_global_key(tenants, prefix, "tenants");
    sc_schema_global_key(index, prefix, "keyid-index");
    redisReply *exists = ctl_redis_cmd(r, err, "EXISTS", key, NULL);
    if (exists == NULL)
        return CTL_EXIT_REDIS;
    int present = exists->type == REDIS_REPLY_INTEGER && exists->integer > 0;
    freeReplyObject(exists);
    if (run_ok(ctl_redis_cmd(r, err, present ? "SADD" : "SREM", tenants, tenant, NULL)) != CTL_EXIT_OK)
        return CTL_EXIT_REDIS;
    redisReply *ids = ctl_redis_cmd(r, err, "HKEYS", keyids, NULL);
    if (ids == NULL)
        return CTL_EXIT_REDIS;
    argv_buf_t set = {0};
    argv_push(&set, "HSET");
    argv_push(&set, index);
    for (size_t i = 0; ids->type == REDIS_REPLY_ARRAY && i != ids->elements; ++i) {
        if (ids->element[i]->type == REDIS_REPLY_STRING) {
            argv_push(&set, ids->element[i]->str);
            argv_push(&set, tenant);
        }
    }
    freeReplyObject(ids);
    int rc = set.n > 2 ? run_ok(run(r, &set, err)) : CTL_EXIT_OK;
    argv_free(&set);
    return rc;
}

/* A slot moved under the transaction: forget its WATCH, wait a little (a migration takes its
 * time), and prepare again. */
static void after_redirect(ctl_redis_t *r, int attempt)
{
    if (r->node >= 0 && r->cluster->ctx[r->node] != NULL)
        freeReplyObject(redisCommand(r->cluster->ctx[r->node], "UNWATCH"));
    r->node = -1;
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 50L * 1000 * 1000 * (attempt + 1)};
    nanosleep(&pause, NULL);
}

/* Cluster mode, after an attempt: redirections make it a conflict; otherwise the tenant's index
 * entries are repaired, refusals included (the second step of an earlier run may be missing). */
static int finish_cluster_attempt(ctl_redis_t *r, int rc, int attempt, ctl_err_t *err)
{
    if (r->redirected) {
        after_redirect(r, attempt);
        return TX_CONFLICT;
    }
    r->node = -1;
    if (rc == TX_CONFLICT || rc == CTL_EXIT_REDIS || r->tx_tenant[0] == '\0')
        return rc;
    ctl_err_t repair_err = {{0}};
    int repaired = repair_indexes(r, r->tx_tenant, &repair_err);
    if (rc == CTL_EXIT_OK && repaired != CTL_EXIT_OK) {
        *err = repair_err;
        return repaired;
    }
    return rc;
}

int ctl_redis_transact(ctl_redis_t *r, ctl_tx_prepare_cb prepare, void *data, ctl_err_t *err)
{
    for (int attempt = 0; attempt != CTL_TX_ATTEMPTS; ++attempt) {
        ctl_tx_t tx = {.redis = r};
        r->node = -1, r->tx_tenant[0] = '\0', r->redirected = 0;
        int rc = prepare(r, &tx, data, err);
        if (rc == CTL_EXIT_OK)
            rc = r->cluster != NULL ? commit_cluster(r, &tx, err) : commit(r, &tx, err);
        else if (rc != CTL_EXIT_REDIS)
            run_ok(ctl_redis_cmd(r, &(ctl_err_t){{0}}, "UNWATCH", NULL)); /* the session may go on (import) */
        tx_free(&tx);
        if (r->cluster != NULL)
            rc = finish_cluster_attempt(r, rc, attempt, err);
        if (rc != TX_CONFLICT)
            return rc;
    }
    if (r->cluster != NULL && r->redirected)
        return ctl_fail(err, CTL_EXIT_REFUSED,
                        "the slot of tenant %s was moving between nodes of Redis Cluster %s %d times in a row; nothing was "
                        "written, try again",
                        r->tx_tenant, r->config->url, CTL_TX_ATTEMPTS);
    return ctl_fail(err, CTL_EXIT_REFUSED, "the records changed concurrently %d times in a row; nothing was written, try again",
                    CTL_TX_ATTEMPTS);
}
