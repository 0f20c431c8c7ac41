#include "jwks_cache_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_util.h"
#include "jwks_fetch.h"

static int write_all(int fd, const char *data, size_t len)
{
    while (len != 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int sc_jwks_cache_file_write(const char *path, const char *json, size_t len, char *err, size_t errsize)
{
    size_t cap = strlen(path) + 32;
    char *tmp = malloc(cap);
    if (tmp == NULL) {
        snprintf(err, errsize, "%s: out of memory", path);
        return -1;
    }
    snprintf(tmp, cap, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1 || fchmod(fd, 0644) != 0 || write_all(fd, json, len) != 0 || fsync(fd) != 0) {
        snprintf(err, errsize, "%s: %s", tmp, strerror(errno));
        goto Error;
    }
    if (close(fd) != 0) {
        fd = -1;
        snprintf(err, errsize, "%s: %s", tmp, strerror(errno));
        goto Error;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        snprintf(err, errsize, "%s: rename: %s", path, strerror(errno));
        goto Error;
    }
    free(tmp);
    return 0;
Error:
    if (fd != -1)
        close(fd);
    unlink(tmp);
    free(tmp);
    return -1;
}

int sc_jwks_cache_file_read(const char *path, char **json, size_t *len, int64_t *mtime, char *err, size_t errsize)
{
    struct stat st;
    if (sc_file_util_read(path, SC_FETCH_MAX_BYTES, json, len, err, errsize) != 0)
        return -1;
    *mtime = stat(path, &st) == 0 ? (int64_t)st.st_mtime : 0;
    return 0;
}
