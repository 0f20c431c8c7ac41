/*
 * jwks_cache_file: the last good key set of an issuer on disk, so that a restart while the
 * provider is unreachable still starts. Blocking I/O: start-up, reload and the key refresher's
 * thread only.
 */
#ifndef SC_JWKS_CACHE_FILE_H
#define SC_JWKS_CACHE_FILE_H

#include <stddef.h>
#include <stdint.h>

/**
 * Replaces `path` atomically (a temporary file in the same directory, fsync, rename) with the
 * document, mode 0644: a key set holds public keys only (symmetric "oct" keys are refused by
 * the parser). Returns 0, or -1 with a reason in err; the old file is then untouched.
 */
int sc_jwks_cache_file_write(const char *path, const char *json, size_t len, char *err, size_t errsize);

/**
 * Reads the document (heap, NUL-terminated) and the file's modification time. Returns 0, or -1
 * with a reason in err.
 */
int sc_jwks_cache_file_read(const char *path, char **json, size_t *len, int64_t *mtime, char *err, size_t errsize);

#endif
