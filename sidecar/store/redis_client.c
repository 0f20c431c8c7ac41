#include "redis_client.h"

#include <hiredis/async.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "redis_loop.h"

/* The state machine: DOWN --(backoff elapsed)--> CONNECTING --(handshake replies)--> READY */
typedef enum { STATE_DOWN, STATE_CONNECTING, STATE_READY } state_t;

#define TICK_MS 50
#define BACKOFF_MIN_MS 100
/* Short enough that a sidecar is ready again within about a second of Redis coming back. A
 * refused connect on a live host costs Redis one accept and one close. */
#define BACKOFF_MAX_MS 1000
#define PING_INTERVAL_MS 1000
#define PING_TIMEOUT_MIN_MS 1000
/* Commands waiting for a connection, per client: beyond this, callers decide at once. */
#define MAX_WAITING 4096

struct sc_redis_client {
    h2o_evloop_t *loop;
    const sc_redis_config_t *config;
    const char *channel; /* NULL in command mode */
    const sc_redis_client_callbacks_t *cb;
    void *data;
    redisAsyncContext *ac;
    state_t state;
    uint64_t connect_deadline;
    uint64_t reconnect_at;
    uint64_t backoff_ms;
    uint64_t ping_sent_at; /* 0 when no liveness PING is outstanding */
    uint64_t last_reply_at;
    h2o_timeout_t tick_timeout;
    h2o_timeout_entry_t tick;
    h2o_timeout_t command_timeout;
    h2o_timeout_t startup_wait_timeout; /* connect_timeout_ms: how long commands wait before the first connection */
    h2o_linklist_t waiting;             /* pending_t.queued: commands waiting for the connection */
    size_t num_waiting;
    sc_redis_client_stats_t stats;
    int destroying;
};

/*
 * One command. While the connection is not ready it waits in client->waiting, formatted, with
 * its deadline running; once sent, hiredis owns a pointer to it until its callback runs.
 */
typedef struct pending {
    sc_redis_client_t *client; /* NULL once the command has completed (timeout or destroy) */
    sc_redis_reply_cb cb;
    void *data;
    h2o_timeout_entry_t deadline;
    h2o_linklist_t queued; /* linked while waiting for the connection */
    char *formatted;       /* the command in RESP, while waiting */
    size_t formatted_len;
} pending_t;

static void start_connect(sc_redis_client_t *c);
static void send_waiting(sc_redis_client_t *c);

/* state is written by the owning thread only, and read by /ready on any thread */
static void set_state(sc_redis_client_t *c, state_t state)
{
    __atomic_store_n(&c->state, state, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------------ connection lifecycle */

static void schedule_reconnect(sc_redis_client_t *c, const char *why)
{
    int was_ready = c->state == STATE_READY;
    set_state(c, STATE_DOWN);
    c->ac = NULL;
    c->ping_sent_at = 0;
    sc_metrics_count(&c->stats.failures);
    uint64_t now = h2o_now(c->loop);
    /* jitter keeps a fleet of sidecars from reconnecting in lock-step */
    c->reconnect_at = now + c->backoff_ms / 2 + (uint64_t)(rand() % (int)(c->backoff_ms / 2 + 1));
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
    if ((was_ready || c->stats.failures == 1) && !c->destroying)
        sc_log_warn("redis %s%s: %s; reconnecting", c->config->url, c->channel != NULL ? " (subscriber)" : "", why);
    if (c->cb->on_down != NULL && !c->destroying)
        c->cb->on_down(c, c->data, why);
}

/* Drops the current connection (pending commands complete with "connection lost"). */
static void reset_connection(sc_redis_client_t *c, const char *why)
{
    redisAsyncContext *ac = c->ac;
    if (ac == NULL)
        return;
    ac->data = NULL; /* detach first: callbacks from the free must not re-enter the state machine */
    schedule_reconnect(c, why);
    redisAsyncFree(ac);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    sc_redis_client_t *c = ac->data;
    if (c == NULL)
        return; /* we initiated it */
    schedule_reconnect(c, status == REDIS_OK ? "connection closed" : (ac->errstr[0] ? ac->errstr : "connection lost"));
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    sc_redis_client_t *c = ac->data;
    if (c == NULL || status == REDIS_OK)
        return; /* success is signalled by the handshake replies */
    /* hiredis frees the context itself after a failed connect */
    schedule_reconnect(c, ac->errstr[0] ? ac->errstr : "connect failed");
}

static void become_ready(sc_redis_client_t *c)
{
    set_state(c, STATE_READY);
    c->backoff_ms = BACKOFF_MIN_MS;
    c->last_reply_at = h2o_now(c->loop);
    sc_metrics_count(&c->stats.connects);
    if (c->stats.connects > 1 || c->stats.failures > 0)
        sc_log_info("redis %s%s: connected", c->config->url, c->channel != NULL ? " (subscriber)" : "");
    send_waiting(c);
    if (c->cb->on_ready != NULL)
        c->cb->on_ready(c, c->data);
}

/* A handshake step (AUTH, SELECT, PING): any failure drops the connection. */
static void on_handshake_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    sc_redis_client_t *c = ac->data;
    redisReply *reply = r;
    int last = privdata != NULL;
    if (c == NULL || reply == NULL)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        char why[160];
        /* the error text of a failed AUTH names no secret ("WRONGPASS invalid username-password pair") */
        snprintf(why, sizeof(why), "handshake refused: %.*s", (int)(reply->len > 120 ? 120 : reply->len), reply->str);
        reset_connection(c, why);
        return;
    }
    if (last && c->channel == NULL)
        become_ready(c);
}

static void on_subscription(redisAsyncContext *ac, void *r, void *privdata)
{
    sc_redis_client_t *c = ac->data;
    redisReply *reply = r;
    (void)privdata;
    if (c == NULL || reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
        return;
    const redisReply *kind = reply->element[0];
    if (kind->type != REDIS_REPLY_STRING)
        return;
    c->last_reply_at = h2o_now(c->loop);
    if (strcmp(kind->str, "subscribe") == 0) {
        become_ready(c);
    } else if (strcmp(kind->str, "message") == 0 && reply->element[2]->type == REDIS_REPLY_STRING) {
        if (c->cb->on_message != NULL)
            c->cb->on_message(c, c->data, reply->element[2]->str, reply->element[2]->len);
    }
}

/* Queues the handshake right after connecting: hiredis only notices the connection once it has
 * something to write. */
static void send_handshake(sc_redis_client_t *c)
{
    const sc_redis_config_t *cfg = c->config;
    redisAsyncContext *ac = c->ac;
    if (cfg->password != NULL) {
        if (cfg->user != NULL)
            redisAsyncCommand(ac, on_handshake_reply, NULL, "AUTH %s %s", cfg->user, cfg->password);
        else
            redisAsyncCommand(ac, on_handshake_reply, NULL, "AUTH %s", cfg->password);
    }
    if (c->channel != NULL) {
        redisAsyncCommand(ac, on_subscription, NULL, "SUBSCRIBE %s", c->channel);
        return;
    }
    if (cfg->db != 0)
        redisAsyncCommand(ac, on_handshake_reply, NULL, "SELECT %u", cfg->db);
    redisAsyncCommand(ac, on_handshake_reply, (void *)1, "PING");
}

static void start_connect(sc_redis_client_t *c)
{
    redisAsyncContext *ac = redisAsyncConnect(c->config->host, c->config->port);
    if (ac == NULL || ac->err) {
        char why[160];
        snprintf(why, sizeof(why), "connect: %s", ac != NULL ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        schedule_reconnect(c, why);
        return;
    }
    if (sc_redis_loop_attach(ac, c->loop) != 0) {
        redisAsyncFree(ac);
        schedule_reconnect(c, "out of memory");
        return;
    }
    redisEnableKeepAlive(&ac->c); /* notices a dead peer on an idle subscriber connection */
    ac->data = c;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    c->ac = ac;
    set_state(c, STATE_CONNECTING);
    c->connect_deadline = h2o_now(c->loop) + c->config->connect_timeout_ms;
    send_handshake(c);
}

/* ------------------------------------------------------------------ periodic checks */

static void on_ping_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    sc_redis_client_t *c = ac->data;
    (void)privdata;
    if (c == NULL || r == NULL)
        return;
    c->ping_sent_at = 0;
    c->last_reply_at = h2o_now(c->loop);
}

static void check_liveness(sc_redis_client_t *c, uint64_t now)
{
    uint64_t ping_timeout = c->config->timeout_ms * 10 > PING_TIMEOUT_MIN_MS ? c->config->timeout_ms * 10 : PING_TIMEOUT_MIN_MS;
    if (c->ping_sent_at != 0) {
        if (now - c->ping_sent_at > ping_timeout)
            reset_connection(c, "no answer to PING");
        return;
    }
    if (now - c->last_reply_at >= PING_INTERVAL_MS) {
        c->ping_sent_at = now;
        redisAsyncCommand(c->ac, on_ping_reply, NULL, "PING");
    }
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    sc_redis_client_t *c = H2O_STRUCT_FROM_MEMBER(sc_redis_client_t, tick, entry);
    uint64_t now = h2o_now(c->loop);
    switch (c->state) {
    case STATE_DOWN:
        if (now >= c->reconnect_at)
            start_connect(c);
        break;
    case STATE_CONNECTING:
        if (now >= c->connect_deadline)
            reset_connection(c, "connect timeout");
        break;
    case STATE_READY:
        if (c->channel == NULL) /* a subscribed connection accepts no PING in RESP2 */
            check_liveness(c, now);
        break;
    }
    h2o_timeout_link(c->loop, &c->tick_timeout, &c->tick);
}

/* ------------------------------------------------------------------ commands */

static void on_command_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    pending_t *p = privdata;
    sc_redis_client_t *c = p->client;
    redisReply *reply = r;
    if (c == NULL) { /* completed already: timed out */
        free(p);
        return;
    }
    h2o_timeout_unlink(&p->deadline);
    if (reply == NULL) {
        sc_metrics_count(&c->stats.errors);
        p->cb(NULL, p->data, "connection lost");
    } else {
        c->last_reply_at = h2o_now(c->loop);
        if (reply->type == REDIS_REPLY_ERROR)
            sc_metrics_count(&c->stats.errors);
        p->cb(reply, p->data, NULL);
    }
    (void)ac;
    free(p);
}

static void on_command_timeout(h2o_timeout_entry_t *entry)
{
    pending_t *p = H2O_STRUCT_FROM_MEMBER(pending_t, deadline, entry);
    sc_redis_client_t *c = p->client;
    sc_metrics_count(&c->stats.timeouts);
    p->client = NULL; /* hiredis still holds p: on_command_reply frees it when the late reply (or NULL) arrives */
    p->cb(NULL, p->data, "timeout");
}

/* Hands a command to hiredis; from now on its deadline is the command timeout. */
static int send_pending(sc_redis_client_t *c, pending_t *p, int argc, const char **argv, const size_t *argvlen)
{
    int rc = p->formatted != NULL ? redisAsyncFormattedCommand(c->ac, on_command_reply, p, p->formatted, p->formatted_len)
                                  : redisAsyncCommandArgv(c->ac, on_command_reply, p, argc, argv, argvlen);
    if (rc != REDIS_OK)
        return -1;
    free(p->formatted);
    p->formatted = NULL;
    p->deadline.cb = on_command_timeout;
    h2o_timeout_link(c->loop, &c->command_timeout, &p->deadline);
    return 0;
}

/* A waiting command leaves the queue: its deadline and its copy of the command go with it. */
static void unqueue(sc_redis_client_t *c, pending_t *p)
{
    h2o_linklist_unlink(&p->queued);
    h2o_timeout_unlink(&p->deadline);
    --c->num_waiting;
}

static void complete_waiting(sc_redis_client_t *c, pending_t *p, const char *why)
{
    unqueue(c, p);
    p->cb(NULL, p->data, why);
    free(p->formatted);
    free(p);
}

static void on_wait_timeout(h2o_timeout_entry_t *entry)
{
    pending_t *p = H2O_STRUCT_FROM_MEMBER(pending_t, deadline, entry);
    sc_metrics_count(&p->client->stats.timeouts);
    complete_waiting(p->client, p, "not connected");
}

/* The connection is ready: the commands that waited for it go out, oldest first. */
static void send_waiting(sc_redis_client_t *c)
{
    while (!h2o_linklist_is_empty(&c->waiting) && c->state == STATE_READY) {
        pending_t *p = H2O_STRUCT_FROM_MEMBER(pending_t, queued, c->waiting.next);
        unqueue(c, p);
        if (send_pending(c, p, 0, NULL, NULL) != 0) {
            sc_metrics_count(&c->stats.errors);
            p->cb(NULL, p->data, "connection lost");
            free(p->formatted);
            free(p);
        }
    }
}

static void fail_waiting(sc_redis_client_t *c, const char *why)
{
    while (!h2o_linklist_is_empty(&c->waiting))
        complete_waiting(c, H2O_STRUCT_FROM_MEMBER(pending_t, queued, c->waiting.next), why);
}

/*
 * How long a command may wait for the connection: the connect timeout until the first
 * connection (a sidecar that has just started), the command timeout after that.
 */
static h2o_timeout_t *wait_timeout(sc_redis_client_t *c)
{
    return c->stats.connects == 0 ? &c->startup_wait_timeout : &c->command_timeout;
}

/* Whether the connection can be up before a command queued now would time out. */
static int worth_waiting(sc_redis_client_t *c)
{
    if (c->num_waiting >= MAX_WAITING)
        return 0;
    if (c->state == STATE_CONNECTING)
        return 1;
    return c->reconnect_at <= h2o_now(c->loop) + wait_timeout(c)->timeout;
}

static int queue_command(sc_redis_client_t *c, pending_t *p, int argc, const char **argv, const size_t *argvlen)
{
    long long len = redisFormatCommandArgv(&p->formatted, argc, argv, argvlen);
    if (len < 0)
        return -1;
    p->formatted_len = (size_t)len;
    p->deadline.cb = on_wait_timeout;
    h2o_linklist_insert(&c->waiting, &p->queued);
    ++c->num_waiting;
    h2o_timeout_link(c->loop, wait_timeout(c), &p->deadline);
    return 0;
}

int sc_redis_client_command(sc_redis_client_t *c, sc_redis_reply_cb cb, void *data, int argc, const char **argv,
                            const size_t *argvlen)
{
    if (c->channel != NULL || (c->state != STATE_READY && !worth_waiting(c)))
        return -1;
    pending_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -1;
    p->client = c;
    p->cb = cb;
    p->data = data;
    int rc = c->state == STATE_READY ? send_pending(c, p, argc, argv, argvlen) : queue_command(c, p, argc, argv, argvlen);
    if (rc != 0) {
        free(p->formatted);
        free(p);
    }
    return rc;
}

/* ------------------------------------------------------------------ create / destroy */

sc_redis_client_t *sc_redis_client_create(h2o_evloop_t *loop, const sc_redis_config_t *config, const char *subscribe_channel,
                                          const sc_redis_client_callbacks_t *callbacks, void *data)
{
    sc_redis_client_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->loop = loop;
    c->config = config;
    c->channel = subscribe_channel;
    c->cb = callbacks;
    c->data = data;
    c->backoff_ms = BACKOFF_MIN_MS;
    h2o_timeout_init(loop, &c->tick_timeout, TICK_MS);
    h2o_timeout_init(loop, &c->command_timeout, config->timeout_ms);
    h2o_timeout_init(loop, &c->startup_wait_timeout, config->connect_timeout_ms);
    h2o_linklist_init_anchor(&c->waiting);
    c->tick.cb = on_tick;
    h2o_timeout_link(loop, &c->tick_timeout, &c->tick);
    start_connect(c);
    return c;
}

void sc_redis_client_destroy(sc_redis_client_t *c)
{
    c->destroying = 1;
    reset_connection(c, "shutting down");
    fail_waiting(c, "shutting down");
    h2o_timeout_unlink(&c->tick);
    /* commands sent and still within their deadline are owned by hiredis, completed above */
    h2o_timeout_dispose(c->loop, &c->tick_timeout);
    h2o_timeout_dispose(c->loop, &c->command_timeout);
    h2o_timeout_dispose(c->loop, &c->startup_wait_timeout);
    free(c);
}

int sc_redis_client_is_ready(const sc_redis_client_t *c)
{
    return __atomic_load_n(&c->state, __ATOMIC_ACQUIRE) == STATE_READY;
}

const sc_redis_client_stats_t *sc_redis_client_stats(const sc_redis_client_t *c)
{
    return &c->stats;
}

void sc_redis_client_add_stats(const sc_redis_client_t *c, sc_redis_client_stats_t *sum)
{
    sum->connects += __atomic_load_n(&c->stats.connects, __ATOMIC_RELAXED);
    sum->failures += __atomic_load_n(&c->stats.failures, __ATOMIC_RELAXED);
    sum->timeouts += __atomic_load_n(&c->stats.timeouts, __ATOMIC_RELAXED);
    sum->errors += __atomic_load_n(&c->stats.errors, __ATOMIC_RELAXED);
}
