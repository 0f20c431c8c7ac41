/*
 * ctl_args: sidecarctl's command line, parsed and validated into a plain struct. No I/O: no
 * Redis, no files, no environment, so every rule here is unit-tested (tests/unit/test_ctl_args.c).
 *
 * Global options (--redis, -c, --redis-user, --redis-password-file, --redis-cluster, --audit-max-entries, --actor,
 * --json, --yes, --help, --version) may appear anywhere;
 * a command's own options too, before or after its words. "--" ends the options, so that a
 * tenant id starting with '-' can be given. Values follow the option ("--rate 5") or are
 * attached ("--rate=5"); a value may start with '-', and is then judged as a value.
 */
#ifndef SC_CTL_ARGS_H
#define SC_CTL_ARGS_H

#include <stdint.h>

#include "ctl_status.h"

typedef enum ctl_command {
    CTL_CMD_NONE,
    CTL_CMD_HELP,
    CTL_CMD_VERSION,
    CTL_CMD_TENANT_CREATE,
    CTL_CMD_TENANT_GET,
    CTL_CMD_TENANT_LIST,
    CTL_CMD_TENANT_UPDATE,
    CTL_CMD_TENANT_SUSPEND,
    CTL_CMD_TENANT_ACTIVATE,
    CTL_CMD_TENANT_DELETE,
    CTL_CMD_KEY_CREATE,
    CTL_CMD_KEY_LIST,
    CTL_CMD_KEY_REVOKE,
    CTL_CMD_KEY_ROTATE,
    CTL_CMD_EXPORT,
    CTL_CMD_IMPORT,
    CTL_CMD_AUDIT,
    CTL_CMD_TOKEN_SIGN,
} ctl_command_t;

/* Which command options were given (bits of ctl_args_t.given). */
enum {
    CTL_OPT_SERVICES = 1u << 0,
    CTL_OPT_SCOPES = 1u << 1,
    CTL_OPT_RATE = 1u << 2,
    CTL_OPT_BURST = 1u << 3,
    CTL_OPT_QUOTA = 1u << 4,
    CTL_OPT_ISSUER = 1u << 5,
    CTL_OPT_EXPIRES = 1u << 6,
    CTL_OPT_NAME = 1u << 7,
    CTL_OPT_GRACE = 1u << 8,
    CTL_OPT_DRY_RUN = 1u << 9, /* import */
    CTL_OPT_TENANT = 1u << 10, /* audit */
    CTL_OPT_SINCE = 1u << 11,  /* audit */
    /* token sign (CTL_OPT_ISSUER, CTL_OPT_TENANT and CTL_OPT_SCOPES too) */
    CTL_OPT_KEY_FILE = 1u << 12,
    CTL_OPT_KID = 1u << 13,
    CTL_OPT_ALG = 1u << 14,
    CTL_OPT_SUB = 1u << 15,
    CTL_OPT_AUD = 1u << 16,
    CTL_OPT_TTL = 1u << 17,
    CTL_OPT_CLAIM = 1u << 18,
    CTL_OPT_TENANT_CLAIM = 1u << 19,
};
#define CTL_OPTS_TENANT_FIELDS (CTL_OPT_SERVICES | CTL_OPT_SCOPES | CTL_OPT_RATE | CTL_OPT_BURST | CTL_OPT_QUOTA | CTL_OPT_ISSUER)

#define CTL_MAX_COUNT 1000000000000ULL           /* --rate, --burst, --quota */
#define CTL_MAX_DURATION_S (36500LL * 24 * 3600) /* --expires, --grace: 100 years */
#define CTL_DEFAULT_GRACE_S (24 * 3600)          /* key rotate without --grace */
#define CTL_NAME_MAX 200
#define CTL_ACTOR_MAX 128
/* The audit stream keeps about this many entries (XADD MAXLEN ~) unless told otherwise. */
#define CTL_AUDIT_DEFAULT_MAX_ENTRIES 100000
#define CTL_TOKEN_DEFAULT_TTL_S (15 * 60) /* token sign without --ttl */
#define CTL_TOKEN_MAX_CLAIMS 32           /* --claim given at most this many times */

typedef struct ctl_args {
    ctl_command_t command;
    const char *command_name; /* "tenant create", for messages */
    const char *target;       /* the tenant id, key id or import file; points into argv */

    /* global options (point into argv; NULL when not given) */
    const char *redis_url;
    const char *config_file;
    const char *actor;
    const char *redis_user;          /* a Redis ACL user other than the host file's */
    const char *redis_password_file; /* its password (never on the command line) */
    uint64_t audit_max_entries;      /* 0: not given */
    int redis_cluster;               /* --redis-cluster: the address is a seed node of a Redis Cluster */
    int json;
    int yes;

    /* command options: valid only when their CTL_OPT_* bit is set in `given` */
    unsigned given;
    char *services; /* "*" or space-separated service names */
    char *scopes;   /* "*" (no cap) or space-separated scopes, possibly none */
    char *issuers;  /* "*" (any issuer) or space-separated issuers, each once */
    uint64_t rate, burst, quota;
    int64_t expires_s; /* > 0 */
    int64_t grace_s;   /* CTL_DEFAULT_GRACE_S unless given; 0: revoke the old key now */
    const char *key_name;
    const char *tenant_filter; /* audit --tenant; token sign --tenant (the token's tenant) */
    int64_t since_s;           /* audit --since: Unix seconds when since_absolute, else seconds ago */
    int since_absolute;
    /* token sign; the issuer is `issuers` (exactly one) */
    const char *key_file;
    const char *kid;
    const char *alg;                          /* a JWS name, checked against what can be signed; NULL: chosen from the key */
    const char *subject;                      /* --sub */
    const char *audience;                     /* --aud */
    const char *tenant_claim;                 /* NULL: the issuer's (-c), else tenant_id */
    int64_t ttl_s;                            /* > 0; CTL_TOKEN_DEFAULT_TTL_S unless given */
    const char *claims[CTL_TOKEN_MAX_CLAIMS]; /* --claim NAME=VALUE, as given */
    size_t num_claims;
} ctl_args_t;

/**
 * Parses argv. Returns CTL_EXIT_OK, or CTL_EXIT_USAGE with the reason in err. --help and
 * --version win over any other error. Release with ctl_args_free in both cases.
 */
int ctl_args_parse(int argc, char **argv, ctl_args_t *out, ctl_err_t *err);

void ctl_args_free(ctl_args_t *args);

/**
 * A duration: N, Ns, Nm, Nh or Nd (bare N: seconds), 0 to CTL_MAX_DURATION_S. Returns 0 or -1.
 */
int ctl_parse_duration(const char *s, int64_t *out);

/**
 * audit --since: a duration back from now (as ctl_parse_duration: "90m", "7d") or a UTC time,
 * "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ". Sets *absolute to 1 for a time (out: Unix seconds),
 * 0 for a duration (out: seconds). Returns 0 or -1.
 */
int ctl_parse_since(const char *s, int64_t *out, int *absolute);

/**
 * A decimal count, 0 to CTL_MAX_COUNT, digits only. Returns 0, -1 when malformed, -2 when too large.
 */
int ctl_parse_count(const char *s, uint64_t *out);

/**
 * 1 when `id` is a valid key id: like tenant ids, [A-Za-z0-9._-]{1,64}. sidecarctl makes
 * "k_" + 12 hex digits; imported and hand-made ids may differ.
 */
int ctl_key_id_valid(const char *id);

/**
 * 1 when `s` is a word that can be stored in a space-separated record field: printable ASCII,
 * no space or comma (the sidecar splits on both).
 */
int ctl_word_valid(const char *s);

#endif
