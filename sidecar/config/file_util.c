#include "file_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int sc_file_util_read(const char *path, size_t max_size, char **out, size_t *len, char *err, size_t errsize)
{
    FILE *fp = fopen(path, "rb");
    struct stat st;
    char *buf = NULL;

    if (fp == NULL) {
        snprintf(err, errsize, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errsize, "%s: not a regular file", path);
        goto Error;
    }
    if ((size_t)st.st_size > max_size) {
        snprintf(err, errsize, "%s: file is larger than %zu bytes", path, max_size);
        goto Error;
    }
    if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
        snprintf(err, errsize, "%s: out of memory", path);
        goto Error;
    }
    size_t n = fread(buf, 1, (size_t)st.st_size, fp);
    if (n != (size_t)st.st_size || ferror(fp)) {
        snprintf(err, errsize, "%s: read error", path);
        goto Error;
    }
    buf[n] = '\0';
    fclose(fp);
    *out = buf;
    *len = n;
    return 0;
Error:
    free(buf);
    fclose(fp);
    return -1;
}

char *sc_file_util_resolve(const char *relative_to_file, const char *path)
{
    if (path[0] == '/')
        return strdup(path);
    const char *slash = strrchr(relative_to_file, '/');
    if (slash == NULL)
        return strdup(path);
    size_t dirlen = (size_t)(slash - relative_to_file);
    char *out = malloc(dirlen + 1 + strlen(path) + 1);
    if (out == NULL)
        return NULL;
    memcpy(out, relative_to_file, dirlen);
    out[dirlen] = '/';
    strcpy(out + dirlen + 1, path);
    return out;
}
