#include "access_log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* How far the writer may fall behind before lines are dropped. */
#define MAX_PENDING (4 * 1024 * 1024)
/* The writer wakes up when this much is queued, or FLUSH_INTERVAL_MS after the first line:
 * one write(2) for many lines, and no context switch per request. */
#define WAKE_THRESHOLD (64 * 1024)
#define FLUSH_INTERVAL_MS 100

struct sc_access_log {
    char *path; /* NULL for standard output */
    int fd;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t ready;
    char *pending;
    char *spare; /* the writer's buffer while the workers fill `pending` */
    size_t pending_len;
    int stopping;
    int reopen_requested;
    uint64_t dropped;
};

static int open_file(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

static void write_all(sc_access_log_t *log, const char *buf, size_t len)
{
    while (len != 0) {
        ssize_t n = write(log->fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            sc_log_error("access log: write failed: %s (%zu bytes lost)", strerror(errno), len);
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

/* reopen: the request taken under the lock (SIGUSR1 may set it again meanwhile: not lost) */
static void reopen_if_asked(sc_access_log_t *log, int reopen)
{
    if (!reopen || log->path == NULL)
        return;
    int fd = open_file(log->path);
    if (fd == -1) {
        sc_log_error("access log: cannot reopen %s: %s (still writing to the old file)", log->path, strerror(errno));
        return;
    }
    close(log->fd);
    log->fd = fd;
    sc_log_info("access log: reopened %s", log->path);
}

/* Waits until something is worth writing: a full batch, a stop, a reopen, or a line that has
 * waited FLUSH_INTERVAL_MS. Called with the lock held. */
static void wait_for_batch(sc_access_log_t *log)
{
    while (log->pending_len < WAKE_THRESHOLD && !log->stopping && !log->reopen_requested) {
        if (log->pending_len == 0) {
            pthread_cond_wait(&log->ready, &log->lock);
            continue;
        }
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_nsec += FLUSH_INTERVAL_MS * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec += 1;
            deadline.tv_nsec -= 1000000000L;
        }
        if (pthread_cond_timedwait(&log->ready, &log->lock, &deadline) == ETIMEDOUT)
            return;
    }
}

static void *writer_main(void *arg)
{
    sc_access_log_t *log = arg;
    char *spare = log->spare;
    pthread_mutex_lock(&log->lock);
    for (;;) {
        wait_for_batch(log);
        /* take the whole queue and give the workers an empty buffer */
        char *batch = log->pending;
        size_t len = log->pending_len;
        log->pending = spare;
        log->pending_len = 0;
        int stopping = log->stopping, reopen = log->reopen_requested;
        log->reopen_requested = 0;
        pthread_mutex_unlock(&log->lock);

        reopen_if_asked(log, reopen);
        write_all(log, batch, len);
        spare = batch;
        if (stopping)
            break;
        pthread_mutex_lock(&log->lock);
    }
    log->spare = spare;
    return NULL;
}

/* Frees what sc_access_log_open allocated before the writer started (the file stays open). */
static void free_unstarted(sc_access_log_t *log)
{
    free(log->path);
    free(log->pending);
    free(log->spare);
    free(log);
}

sc_access_log_t *sc_access_log_open(const char *path, char *err, size_t errsize)
{
    sc_access_log_t *log = calloc(1, sizeof(*log));
    if (log == NULL || (log->pending = malloc(MAX_PENDING)) == NULL || (log->spare = malloc(MAX_PENDING)) == NULL) {
        if (log != NULL)
            free_unstarted(log);
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    log->fd = -1;
    if (strcmp(path, "-") == 0) {
        log->fd = STDOUT_FILENO;
    } else if ((log->path = strdup(path)) == NULL || (log->fd = open_file(path)) == -1) {
        snprintf(err, errsize, "%s: cannot open for appending: %s", path, strerror(errno));
        free_unstarted(log);
        return NULL;
    }
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&log->lock, NULL);
    pthread_cond_init(&log->ready, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&log->thread, NULL, writer_main, log) != 0) {
        snprintf(err, errsize, "cannot start the access log writer");
        if (log->path != NULL)
            close(log->fd);
        free_unstarted(log);
        return NULL;
    }
    return log;
}

void sc_access_log_write(sc_access_log_t *log, const char *line, size_t len)
{
    pthread_mutex_lock(&log->lock);
    if (log->pending_len + len > MAX_PENDING) {
        ++log->dropped;
    } else {
        memcpy(log->pending + log->pending_len, line, len);
        size_t before = log->pending_len;
        log->pending_len += len;
        /* wake the writer for the first line (it starts its flush timer) and for a full batch */
        if (before == 0 || (before < WAKE_THRESHOLD && log->pending_len >= WAKE_THRESHOLD))
            pthread_cond_signal(&log->ready);
    }
    pthread_mutex_unlock(&log->lock);
}

void sc_access_log_reopen(sc_access_log_t *log)
{
    pthread_mutex_lock(&log->lock);
    log->reopen_requested = 1;
    pthread_cond_signal(&log->ready);
    pthread_mutex_unlock(&log->lock);
}

void sc_access_log_close(sc_access_log_t *log)
{
    if (log == NULL)
        return;
    pthread_mutex_lock(&log->lock);
    log->stopping = 1;
    pthread_cond_signal(&log->ready);
    pthread_mutex_unlock(&log->lock);
    pthread_join(log->thread, NULL);
    if (log->path != NULL)
        close(log->fd);
    pthread_mutex_destroy(&log->lock);
    pthread_cond_destroy(&log->ready);
    free(log->pending);
    free(log->spare);
    free(log->path);
    free(log);
}

uint64_t sc_access_log_dropped(sc_access_log_t *log)
{
    pthread_mutex_lock(&log->lock);
    uint64_t n = log->dropped;
    pthread_mutex_unlock(&log->lock);
    return n;
}
