/*
 * text: the syntax rules for text that crosses a trust boundary, written once and used by the
 * daemon and sidecarctl alike. Every function takes a length (no NUL needed) unless it says
 * otherwise, and answers 1 (valid) or 0.
 */
#ifndef SC_TEXT_H
#define SC_TEXT_H

#include <stddef.h>

#define SC_TEXT_TENANT_ID_MAX 64
#define SC_TEXT_SERVICE_NAME_MAX 64

/**
 * 1 for a control character: C0 (0x00-0x1f) or DEL (0x7f). Bytes 0x80-0xff are not (UTF-8).
 * Inline: paths and log fields are checked byte by byte on the request path.
 */
static inline int sc_text_is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/**
 * 1 when s holds a control character. Text that may become a header or a line of output (API
 * keys, JWT claims, values typed to sidecarctl) must have none: a CR or LF would start another.
 */
int sc_text_has_control(const char *s, size_t len);

/**
 * 1 when the NUL-terminated s is 1 to max bytes without a control character: free text that
 * stays on one line (a key's name, an actor, a claim given to sidecarctl).
 */
int sc_text_line_valid(const char *s, size_t max);

/**
 * 1 for an OAuth scope-token (RFC 6749 3.3): one or more of %x21 / %x23-5B / %x5D-7E, i.e.
 * printable ASCII without space, double quote or backslash.
 */
int sc_text_scope_token_valid(const char *s, size_t len);

/**
 * 1 for a service name: 1 to 64 of a-z, 0-9, _ and - (the host file's rule; names appear in
 * Redis keys and metrics labels).
 */
int sc_text_service_name_valid(const char *s, size_t len);

/**
 * 1 for a tenant id: [A-Za-z0-9._-]{1,64}, the only tenant ids that exist (they appear in Redis
 * keys, headers and logs).
 */
int sc_text_tenant_id_valid(const char *s, size_t len);

#endif
