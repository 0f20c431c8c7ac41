/*
 * file_util: whole-file reads and path resolution for configuration loading. Blocking I/O:
 * call only at start-up or reload, never from a request handler.
 */
#ifndef SC_FILE_UTIL_H
#define SC_FILE_UTIL_H

#include <stddef.h>

/* Configuration, policy and key files are small; anything larger is a mistake, not a config. */
#define SC_MAX_CONFIG_FILE_SIZE (4 * 1024 * 1024)

/**
 * Reads a whole file into a NUL-terminated heap buffer (*out, *len excludes the NUL). Refuses
 * files larger than max_size. Returns 0, or -1 with "path: reason" in err.
 */
int sc_file_util_read(const char *path, size_t max_size, char **out, size_t *len, char *err, size_t errsize);

/**
 * Resolves `path` relative to the directory holding `relative_to_file`; absolute paths are
 * returned as they are. Returns a heap string, or NULL when out of memory.
 */
char *sc_file_util_resolve(const char *relative_to_file, const char *path);

#endif
