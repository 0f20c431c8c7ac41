/*
 * redis_cluster: the async cluster client on a real h2o loop against two fake cluster nodes (a
 * thread answering RESP on loopback, scripted per test): MOVED and ASK followed (ASKING on the
 * same connection, just before the command), redirections bounded, the deadline kept, and every
 * callback run exactly once, also when the client is destroyed with commands in flight.
 * The integration test (test_redis_cluster.py) does the same against a real Redis Cluster.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster_slot.h"
#include "redis_cluster.h"
#include "redis_subscriber.h"

/* ------------------------------------------------------------------ a fake cluster node */

#define MAX_CONNS 8

typedef struct fake_node {
    int listen_fd;
    uint16_t port;
    pthread_t thread;
    int stop;
    /* the script: what HGETALL gets; NULL: no answer at all */
    const char *hgetall_reply;
    int require_asking; /* HGETALL without ASKING just before it: MOVED back to `other` */
    struct fake_node *other;
    char slots_reply[256];
    /* what happened (read after the loop ran: the thread writes, the test reads, both atomically) */
    int hgetalls, askings, cluster_slots, subscribes;
} fake_node_t;

typedef struct conn {
    int fd;
    char buf[4096];
    size_t len;
    int asking;
} conn_t;

/* One complete RESP array command at the start of buf: its first two words; returns its length or 0. */
static size_t parse_command(const char *buf, size_t len, char *cmd, size_t cmdsize, char *arg1, size_t argsize)
{
    const char *p = buf, *end = buf + len;
    if (len < 4 || *p != '*')
        return 0;
    long n = strtol(p + 1, NULL, 10);
    if ((p = memchr(p, '\n', (size_t)(end - p))) == NULL)
        return 0;
    ++p;
    cmd[0] = arg1[0] = '\0';
    for (long i = 0; i != n; ++i) {
        if (p >= end || *p != '$')
            return 0;
        long l = strtol(p + 1, NULL, 10);
        if ((p = memchr(p, '\n', (size_t)(end - p))) == NULL || end - (p + 1) < l + 2)
            return 0;
        ++p;
        if (i == 0)
            snprintf(cmd, cmdsize, "%.*s", (int)l, p);
        else if (i == 1)
            snprintf(arg1, argsize, "%.*s", (int)l, p);
        p += l + 2;
    }
    return (size_t)(p - buf);
}

static void answer(fake_node_t *n, conn_t *c, const char *cmd, const char *key)
{
    char moved[400];
    const char *reply = "+OK\r\n";
    if (strcasecmp(cmd, "PING") == 0) {
        reply = "+PONG\r\n";
    } else if (strcasecmp(cmd, "ASKING") == 0) {
        __atomic_add_fetch(&n->askings, 1, __ATOMIC_RELAXED);
        c->asking = 1;
        reply = "+OK\r\n";
    } else if (strcasecmp(cmd, "SUBSCRIBE") == 0) {
        __atomic_add_fetch(&n->subscribes, 1, __ATOMIC_RELAXED);
        snprintf(moved, sizeof(moved), "*3\r\n$9\r\nsubscribe\r\n$%zu\r\n%s\r\n:1\r\n", strlen(key), key);
        reply = moved;
    } else if (strcasecmp(cmd, "CLUSTER") == 0) {
        __atomic_add_fetch(&n->cluster_slots, 1, __ATOMIC_RELAXED);
        reply = n->slots_reply;
    } else if (strcasecmp(cmd, "HGETALL") == 0) {
        __atomic_add_fetch(&n->hgetalls, 1, __ATOMIC_RELAXED);
        if (n->require_asking && !c->asking) {
            snprintf(moved, sizeof(moved), "-MOVED %u 127.0.0.1:%u\r\n", sc_cluster_slot_of(key, strlen(key)), n->other->port);
            reply = moved;
        } else {
            reply = n->hgetall_reply;
        }
    }
    if (strcasecmp(cmd, "ASKING") != 0)
        c->asking = 0; /* ASKING applies to the next command only */
    if (reply != NULL && write(c->fd, reply, strlen(reply)) < 0)
        return;
}

static void serve(fake_node_t *n, conn_t *c)
{
    ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
    if (r <= 0) {
        close(c->fd);
        c->fd = -1;
        return;
    }
    c->len += (size_t)r;
    char cmd[32], key[256];
    size_t used;
    while ((used = parse_command(c->buf, c->len, cmd, sizeof(cmd), key, sizeof(key))) != 0) {
        answer(n, c, cmd, key);
        memmove(c->buf, c->buf + used, c->len - used);
        c->len -= used;
    }
}

static void *run_node(void *arg)
{
    fake_node_t *n = arg;
    conn_t conns[MAX_CONNS];
    for (size_t i = 0; i != MAX_CONNS; ++i)
        conns[i].fd = -1;
    while (!__atomic_load_n(&n->stop, __ATOMIC_ACQUIRE)) {
        struct pollfd fds[MAX_CONNS + 1] = {{.fd = n->listen_fd, .events = POLLIN}};
        for (size_t i = 0; i != MAX_CONNS; ++i)
            fds[i + 1] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
        if (poll(fds, MAX_CONNS + 1, 20) <= 0)
            continue;
        if (fds[0].revents & POLLIN) {
            int fd = accept(n->listen_fd, NULL, NULL);
            for (size_t i = 0; fd >= 0 && i != MAX_CONNS; ++i)
                if (conns[i].fd < 0) {
                    conns[i] = (conn_t){.fd = fd};
                    fd = -1;
                }
            if (fd >= 0)
                close(fd);
        }
        for (size_t i = 0; i != MAX_CONNS; ++i)
            if (conns[i].fd >= 0 && (fds[i + 1].revents & (POLLIN | POLLHUP)))
                serve(n, &conns[i]);
    }
    for (size_t i = 0; i != MAX_CONNS; ++i)
        if (conns[i].fd >= 0)
            close(conns[i].fd);
    return NULL;
}

static void node_start(fake_node_t *n)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    n->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(n->listen_fd >= 0);
    assert_int_equal(bind(n->listen_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(n->listen_fd, 16), 0);
    assert_int_equal(getsockname(n->listen_fd, (struct sockaddr *)&sin, &len), 0);
    n->port = ntohs(sin.sin_port);
}

static void node_run(fake_node_t *n)
{
    assert_int_equal(pthread_create(&n->thread, NULL, run_node, n), 0);
}

/* Stops the node, once: its connections and its listening socket are closed. */
static void node_stop(fake_node_t *n)
{
    if (n->listen_fd < 0)
        return;
    __atomic_store_n(&n->stop, 1, __ATOMIC_RELEASE);
    pthread_join(n->thread, NULL);
    close(n->listen_fd);
    n->listen_fd = -1;
}

/* Every slot served by `owner`. */
static void serve_all_slots(fake_node_t *n, const fake_node_t *owner)
{
    snprintf(n->slots_reply, sizeof(n->slots_reply), "*1\r\n*3\r\n:0\r\n:16383\r\n*3\r\n$9\r\n127.0.0.1\r\n:%u\r\n$2\r\nid\r\n",
             owner->port);
}

/* ------------------------------------------------------------------ the client under test */

#define DATA_REPLY "*2\r\n$1\r\nf\r\n$1\r\nv\r\n"

typedef struct fixture {
    h2o_evloop_t *loop;
    sc_redis_config_t config;
    fake_node_t a, b;
    sc_redis_cluster_t *cluster;
} fixture_t;

typedef struct answer {
    int calls;
    int type; /* the reply's, or -1 */
    char text[128];
} answer_t;

static void on_answer(redisReply *reply, void *data, const char *err)
{
    answer_t *a = data;
    ++a->calls;
    a->type = reply != NULL ? reply->type : -1;
    snprintf(a->text, sizeof(a->text), "%s", err != NULL ? err : reply->type == REDIS_REPLY_ERROR ? reply->str : "");
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    f->loop = h2o_evloop_create();
    node_start(&f->a);
    node_start(&f->b);
    f->a.other = &f->b;
    f->b.other = &f->a;
    serve_all_slots(&f->a, &f->a);
    serve_all_slots(&f->b, &f->a);
    f->config = (sc_redis_config_t){.url = "redis://127.0.0.1",
                                    .host = "127.0.0.1",
                                    .port = f->a.port,
                                    .prefix = "ps:",
                                    .timeout_ms = 200,
                                    .connect_timeout_ms = 1000,
                                    .cluster = 1};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    sc_redis_cluster_destroy(f->cluster);
    node_stop(&f->a);
    node_stop(&f->b);
    h2o_evloop_destroy(f->loop);
    free(f);
    return 0;
}

static void start(fixture_t *f)
{
    node_run(&f->a);
    node_run(&f->b);
    f->cluster = sc_redis_cluster_create(f->loop, &f->config);
    assert_non_null(f->cluster);
}

/* Runs the loop until the answer came (or 5 s). */
static void wait_for(fixture_t *f, const answer_t *a)
{
    for (int i = 0; i != 500 && a->calls == 0; ++i)
        h2o_evloop_run(f->loop, 10);
    assert_int_equal(a->calls, 1);
}

static int hgetall(fixture_t *f, const char *key, answer_t *a)
{
    const char *argv[] = {"HGETALL", key};
    size_t argvlen[] = {7, strlen(key)};
    *a = (answer_t){0};
    return sc_redis_cluster_command(f->cluster, key, strlen(key), on_answer, a, 2, argv, argvlen);
}

static void test_moved_is_followed(void **state)
{
    fixture_t *f = *state;
    char moved[64];
    answer_t a;
    snprintf(moved, sizeof(moved), "-MOVED %u 127.0.0.1:%u\r\n", sc_cluster_slot_of("ps:{acme}:tenant", 16), f->b.port);
    f->a.hgetall_reply = moved;
    f->b.hgetall_reply = DATA_REPLY;
    start(f);
    assert_int_equal(hgetall(f, "ps:{acme}:tenant", &a), 0);
    wait_for(f, &a);
    assert_int_equal(a.type, REDIS_REPLY_ARRAY);
    assert_int_equal(__atomic_load_n(&f->b.hgetalls, __ATOMIC_RELAXED), 1);
    /* the map learnt it: the next command goes straight to b */
    assert_int_equal(hgetall(f, "ps:{acme}:key:x", &a), 0);
    wait_for(f, &a);
    assert_int_equal(__atomic_load_n(&f->a.hgetalls, __ATOMIC_RELAXED), 1);
    assert_int_equal(__atomic_load_n(&f->b.hgetalls, __ATOMIC_RELAXED), 2);
    assert_true(__atomic_load_n(&f->a.cluster_slots, __ATOMIC_RELAXED) >= 1);
    sc_redis_client_stats_t stats = {0};
    sc_redis_cluster_add_stats(f->cluster, &stats);
    assert_int_equal(stats.errors, 0);
    assert_true(stats.connects >= 2); /* one connection per node */
}

static void test_ask_sends_asking_first(void **state)
{
    fixture_t *f = *state;
    char ask[64];
    answer_t a;
    snprintf(ask, sizeof(ask), "-ASK %u 127.0.0.1:%u\r\n", sc_cluster_slot_of("ps:{acme}:tenant", 16), f->b.port);
    f->a.hgetall_reply = ask;
    f->b.hgetall_reply = DATA_REPLY;
    f->b.require_asking = 1; /* an importing node: MOVED back to a without ASKING */
    start(f);
    for (int round = 1; round <= 2; ++round) {
        assert_int_equal(hgetall(f, "ps:{acme}:tenant", &a), 0);
        wait_for(f, &a);
        assert_int_equal(a.type, REDIS_REPLY_ARRAY);
        /* ASK changes no map: every command starts at a again */
        assert_int_equal(__atomic_load_n(&f->a.hgetalls, __ATOMIC_RELAXED), round);
        assert_int_equal(__atomic_load_n(&f->b.askings, __ATOMIC_RELAXED), round);
    }
}

static void test_redirections_are_bounded(void **state)
{
    fixture_t *f = *state;
    char to_b[64], to_a[64];
    answer_t a;
    unsigned slot = sc_cluster_slot_of("ps:{acme}:tenant", 16);
    snprintf(to_b, sizeof(to_b), "-MOVED %u 127.0.0.1:%u\r\n", slot, f->b.port);
    snprintf(to_a, sizeof(to_a), "-MOVED %u 127.0.0.1:%u\r\n", slot, f->a.port);
    f->a.hgetall_reply = to_b;
    f->b.hgetall_reply = to_a;
    start(f);
    assert_int_equal(hgetall(f, "ps:{acme}:tenant", &a), 0);
    wait_for(f, &a);
    assert_int_equal(a.type, REDIS_REPLY_ERROR);
    assert_non_null(strstr(a.text, "MOVED"));
    int sent = __atomic_load_n(&f->a.hgetalls, __ATOMIC_RELAXED) + __atomic_load_n(&f->b.hgetalls, __ATOMIC_RELAXED);
    assert_int_equal(sent, 1 + SC_REDIS_CLUSTER_MAX_REDIRECTS);
}

static void test_deadline_and_destroy_answer_once(void **state)
{
    fixture_t *f = *state;
    answer_t late, pending[3];
    f->a.hgetall_reply = NULL; /* never answers */
    start(f);
    assert_int_equal(hgetall(f, "ps:{acme}:tenant", &late), 0);
    uint64_t started = h2o_now(f->loop);
    wait_for(f, &late);
    assert_int_equal(late.type, -1);
    assert_string_equal(late.text, "timeout");
    /* within the deadline of one standalone command: a wait for the connection plus timeout_ms */
    assert_true(h2o_now(f->loop) - started <= f->config.connect_timeout_ms + f->config.timeout_ms + 100);
    for (int i = 0; i != 3; ++i)
        assert_int_equal(hgetall(f, "ps:{acme}:tenant", &pending[i]), 0);
    h2o_evloop_run(f->loop, 10);
    sc_redis_cluster_destroy(f->cluster);
    f->cluster = NULL;
    for (int i = 0; i != 3; ++i) {
        assert_int_equal(pending[i].calls, 1);
        assert_int_equal(pending[i].type, -1);
    }
    for (int i = 0; i != 20; ++i) /* late replies to freed commands find nothing to run */
        h2o_evloop_run(f->loop, 10);
    assert_int_equal(late.calls, 1);
}

static void on_subscribed(sc_redis_client_t *client, void *data)
{
    (void)client;
    ++*(int *)data;
}

static void test_subscriber_moves_to_another_node(void **state)
{
    fixture_t *f = *state;
    static const sc_redis_client_callbacks_t callbacks = {.on_ready = on_subscribed};
    int subscriptions = 0;
    snprintf(f->a.slots_reply, sizeof(f->a.slots_reply),
             "*2\r\n*3\r\n:0\r\n:8191\r\n*2\r\n$9\r\n127.0.0.1\r\n:%u\r\n*3\r\n:8192\r\n:16383\r\n*2\r\n$9\r\n127.0.0."
             "1\r\n:%u\r\n",
             f->a.port, f->b.port);
    start(f);
    sc_redis_subscriber_t *sub = sc_redis_subscriber_create(f->loop, f->cluster, "ps:invalidate", &callbacks, &subscriptions);
    assert_non_null(sub);
    for (int i = 0; i != 500 && (subscriptions == 0 || __atomic_load_n(&f->a.cluster_slots, __ATOMIC_RELAXED) == 0); ++i)
        h2o_evloop_run(f->loop, 10);
    assert_int_equal(subscriptions, 1);
    assert_true(sc_redis_subscriber_is_ready(sub));
    for (int i = 0; i != 20; ++i) /* the slot map's answer is read */
        h2o_evloop_run(f->loop, 10);
    node_stop(&f->a); /* the node of the subscription goes away */
    for (int i = 0; i != 500 && subscriptions < 2; ++i)
        h2o_evloop_run(f->loop, 10);
    assert_int_equal(subscriptions, 2); /* on_ready again: the owner reads its cache again */
    assert_int_equal(__atomic_load_n(&f->b.subscribes, __ATOMIC_RELAXED), 1);
    assert_true(sc_redis_subscriber_is_ready(sub));
    sc_redis_subscriber_destroy(sub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_moved_is_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ask_sends_asking_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redirections_are_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_and_destroy_answer_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subscriber_moves_to_another_node, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
