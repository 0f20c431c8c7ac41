#include "ctl_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwks.h"
#include "schema.h"
#include "text.h"

/* ------------------------------------------------------------------ tables */

typedef enum { ARG_NONE, ARG_TENANT, ARG_KEY_ID, ARG_FILE } arg_kind_t;

static const struct command_spec {
    const char *group, *verb; /* verb NULL: a one-word command */
    ctl_command_t command;
    const char *name;
    arg_kind_t arg;
    unsigned options;
} commands[] = {
    {"tenant", "create", CTL_CMD_TENANT_CREATE, "tenant create", ARG_TENANT, CTL_OPTS_TENANT_FIELDS},
    {"tenant", "get", CTL_CMD_TENANT_GET, "tenant get", ARG_TENANT, 0},
    {"tenant", "list", CTL_CMD_TENANT_LIST, "tenant list", ARG_NONE, 0},
    {"tenant", "update", CTL_CMD_TENANT_UPDATE, "tenant update", ARG_TENANT, CTL_OPTS_TENANT_FIELDS},
    {"tenant", "suspend", CTL_CMD_TENANT_SUSPEND, "tenant suspend", ARG_TENANT, 0},
    {"tenant", "activate", CTL_CMD_TENANT_ACTIVATE, "tenant activate", ARG_TENANT, 0},
    {"tenant", "delete", CTL_CMD_TENANT_DELETE, "tenant delete", ARG_TENANT, 0},
    {"key", "create", CTL_CMD_KEY_CREATE, "key create", ARG_TENANT, CTL_OPT_SCOPES | CTL_OPT_EXPIRES | CTL_OPT_NAME},
    {"key", "list", CTL_CMD_KEY_LIST, "key list", ARG_TENANT, 0},
    {"key", "revoke", CTL_CMD_KEY_REVOKE, "key revoke", ARG_KEY_ID, 0},
    {"key", "rotate", CTL_CMD_KEY_ROTATE, "key rotate", ARG_KEY_ID, CTL_OPT_GRACE},
    {"export", NULL, CTL_CMD_EXPORT, "export", ARG_NONE, 0},
    {"import", NULL, CTL_CMD_IMPORT, "import", ARG_FILE, CTL_OPT_DRY_RUN},
    {"audit", NULL, CTL_CMD_AUDIT, "audit", ARG_NONE, CTL_OPT_TENANT | CTL_OPT_SINCE},
    {"token", "sign", CTL_CMD_TOKEN_SIGN, "token sign", ARG_NONE,
     CTL_OPT_ISSUER | CTL_OPT_TENANT | CTL_OPT_SCOPES | CTL_OPT_KEY_FILE | CTL_OPT_KID | CTL_OPT_ALG | CTL_OPT_SUB | CTL_OPT_AUD |
         CTL_OPT_TTL | CTL_OPT_CLAIM | CTL_OPT_TENANT_CLAIM},
};

typedef enum {
    OPT_REDIS,
    OPT_CONFIG,
    OPT_REDIS_USER,
    OPT_REDIS_PASSWORD_FILE,
    OPT_REDIS_CLUSTER,
    OPT_AUDIT_MAX,
    OPT_ACTOR,
    OPT_JSON,
    OPT_YES,
    OPT_HELP,
    OPT_VERSION,
    OPT_COMMAND
} option_id_t;

static const struct option_spec {
    const char *name; /* long name, without "--" */
    char short_name;
    int takes_value;
    option_id_t id;
    unsigned bit; /* CTL_OPT_* for command options */
} options[] = {
    {"redis", 0, 1, OPT_REDIS, 0},
    {"config", 'c', 1, OPT_CONFIG, 0},
    /* no --redis-password: a password on the command line is visible to every local user */
    {"redis-user", 0, 1, OPT_REDIS_USER, 0},
    {"redis-password-file", 0, 1, OPT_REDIS_PASSWORD_FILE, 0},
    {"redis-cluster", 0, 0, OPT_REDIS_CLUSTER, 0},
    {"audit-max-entries", 0, 1, OPT_AUDIT_MAX, 0},
    {"actor", 0, 1, OPT_ACTOR, 0},
    {"json", 0, 0, OPT_JSON, 0},
    {"yes", 0, 0, OPT_YES, 0},
    {"help", 'h', 0, OPT_HELP, 0},
    {"version", 0, 0, OPT_VERSION, 0},
    {"services", 0, 1, OPT_COMMAND, CTL_OPT_SERVICES},
    {"scopes", 0, 1, OPT_COMMAND, CTL_OPT_SCOPES},
    {"rate", 0, 1, OPT_COMMAND, CTL_OPT_RATE},
    {"burst", 0, 1, OPT_COMMAND, CTL_OPT_BURST},
    {"quota", 0, 1, OPT_COMMAND, CTL_OPT_QUOTA},
    {"issuer", 0, 1, OPT_COMMAND, CTL_OPT_ISSUER},
    {"expires", 0, 1, OPT_COMMAND, CTL_OPT_EXPIRES},
    {"name", 0, 1, OPT_COMMAND, CTL_OPT_NAME},
    {"grace", 0, 1, OPT_COMMAND, CTL_OPT_GRACE},
    {"dry-run", 0, 0, OPT_COMMAND, CTL_OPT_DRY_RUN},
    {"tenant", 0, 1, OPT_COMMAND, CTL_OPT_TENANT},
    {"since", 0, 1, OPT_COMMAND, CTL_OPT_SINCE},
    {"key-file", 0, 1, OPT_COMMAND, CTL_OPT_KEY_FILE},
    {"kid", 0, 1, OPT_COMMAND, CTL_OPT_KID},
    {"alg", 0, 1, OPT_COMMAND, CTL_OPT_ALG},
    {"sub", 0, 1, OPT_COMMAND, CTL_OPT_SUB},
    {"aud", 0, 1, OPT_COMMAND, CTL_OPT_AUD},
    {"ttl", 0, 1, OPT_COMMAND, CTL_OPT_TTL},
    {"claim", 0, 1, OPT_COMMAND, CTL_OPT_CLAIM},
    {"tenant-claim", 0, 1, OPT_COMMAND, CTL_OPT_TENANT_CLAIM},
};

/* An option as it appeared on the command line, applied once the command is known. */
typedef struct option_use {
    const struct option_spec *spec;
    const char *value;
} option_use_t;

/* What the first pass over argv found. */
typedef struct scan {
    const char *words[3];
    size_t num_words;
    const char *extra_word; /* a fourth word, reported once the command is known */
    option_use_t *uses;
    size_t num_uses;
    int help, version;
    int status; /* the first error seen, reported unless --help or --version wins */
    ctl_err_t first_err;
} scan_t;

/* ------------------------------------------------------------------ value checks */

int ctl_parse_count(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (*s == '\0')
        return -1;
    for (; *s != '\0'; ++s) {
        if (*s < '0' || *s > '9')
            return -1;
        if (v > (CTL_MAX_COUNT - (uint64_t)(*s - '0')) / 10)
            return -2;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

int ctl_parse_duration(const char *s, int64_t *out)
{
    int64_t v = 0, unit = 1;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; ++p) {
        if (v > CTL_MAX_DURATION_S)
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (p == s)
        return -1;
    switch (*p) {
    case '\0':
    case 's':
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    default:
        return -1;
    }
    if (*p != '\0' && p[1] != '\0')
        return -1;
    if (v > CTL_MAX_DURATION_S / unit)
        return -1;
    *out = v * unit;
    return 0;
}

/* N digits from *p, advancing it; -1 when there are not exactly n digits. */
static int digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i != n; ++i, ++*p) {
        if (**p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
    }
    return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int ctl_parse_since(const char *s, int64_t *out, int *absolute)
{
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0;
    static const int month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (strlen(s) != 10 && strlen(s) != 20) {
        *absolute = 0;
        return ctl_parse_duration(s, out);
    }
    if ((y = digits(&p, 4)) < 1970 || *p++ != '-' || (mo = digits(&p, 2)) < 1 || mo > 12 || *p++ != '-' ||
        (d = digits(&p, 2)) < 1 || d > month_days[mo - 1] || (mo == 2 && d == 29 && (y % 4 != 0 || (y % 100 == 0 && y % 400 != 0))))
        return -1;
    if (*p == 'T' && (++p, (h = digits(&p, 2)) < 0 || h > 23 || *p++ != ':' || (mi = digits(&p, 2)) < 0 || mi > 59 || *p++ != ':' ||
                               (sec = digits(&p, 2)) < 0 || sec > 59 || *p++ != 'Z'))
        return -1;
    if (*p != '\0')
        return -1;
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    *absolute = 1;
    return 0;
}

int ctl_key_id_valid(const char *id)
{
    return sc_text_tenant_id_valid(id, strlen(id)); /* the same alphabet and length */
}

int ctl_word_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 256)
        return 0;
    for (; *s != '\0'; ++s)
        if (*s < 0x21 || *s > 0x7e || *s == ',')
            return 0;
    return 1;
}

/* The host file's rule for service names (sc_text_service_name_valid, as config.c reads them). */
static int service_name_valid(const char *s)
{
    return sc_text_service_name_valid(s, strlen(s));
}

/* A scope: an OAuth scope-token (what policies and the JWT check accept) and a storable word. */
static int scope_valid(const char *s)
{
    return ctl_word_valid(s) && sc_text_scope_token_valid(s, strlen(s));
}

static char *join_words(char **words, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i != n; ++i)
        len += strlen(words[i]) + 1;
    char *s = ctl_xmalloc(len), *p = s;
    for (size_t i = 0; i != n; ++i)
        p += sprintf(p, "%s%s", i != 0 ? " " : "", words[i]);
    *p = '\0';
    return s;
}

/*
 * A list option ("a,b", "a b"), split the way the sidecar splits record fields (sc_words_split:
 * on spaces and commas, each word once), checked word by word, stored space-separated. "*"
 * stands alone. The result replaces *out.
 */
static int parse_list(const char *opt, const char *value, int (*valid)(const char *), int allow_empty, char **out, ctl_err_t *err)
{
    char **words;
    size_t n;
    int rc = CTL_EXIT_OK;
    if (sc_words_split(value, strlen(value), &words, &n) != 0)
        return ctl_fail(err, CTL_EXIT_REFUSED, "out of memory");
    if (n == 0 && !allow_empty)
        rc = ctl_fail(err, CTL_EXIT_USAGE, "--%s: give at least one value, or '*'", opt);
    for (size_t i = 0; i != n && rc == CTL_EXIT_OK; ++i) {
        if (strcmp(words[i], "*") == 0 && n != 1)
            rc = ctl_fail(err, CTL_EXIT_USAGE, "--%s: '*' must stand alone", opt);
        else if (strcmp(words[i], "*") != 0 && !valid(words[i]))
            rc = ctl_fail(err, CTL_EXIT_USAGE, "--%s: \"%s\" is not a valid value", opt, words[i]);
    }
    if (rc == CTL_EXIT_OK) {
        free(*out);
        *out = join_words(words, n);
    }
    sc_words_free(words, n);
    return rc;
}

/* --issuer may be repeated: each value is one issuer, added once; "*" (any issuer) stands alone. */
static int add_issuer(ctl_args_t *a, const char *value, ctl_err_t *err)
{
    char *joined;
    if (strcmp(value, "*") != 0 && !ctl_word_valid(value))
        return ctl_fail(err, CTL_EXIT_USAGE, "--issuer: \"%s\" is not a valid issuer (printable, no spaces or commas)", value);
    if (a->issuers == NULL) {
        a->issuers = ctl_xstrdup(value);
        return CTL_EXIT_OK;
    }
    if (strcmp(value, "*") == 0 || strcmp(a->issuers, "*") == 0)
        return ctl_fail(err, CTL_EXIT_USAGE, "--issuer: '*' must stand alone");
    char **words;
    size_t n;
    if (sc_words_split(a->issuers, strlen(a->issuers), &words, &n) != 0)
        return ctl_fail(err, CTL_EXIT_REFUSED, "out of memory");
    if (!sc_words_contain(words, n, value, strlen(value))) {
        joined = ctl_xasprintf("%s %s", a->issuers, value);
        free(a->issuers);
        a->issuers = joined;
    }
    sc_words_free(words, n);
    return CTL_EXIT_OK;
}

static int parse_count_option(const char *opt, const char *value, uint64_t *out, ctl_err_t *err)
{
    switch (ctl_parse_count(value, out)) {
    case 0:
        return CTL_EXIT_OK;
    case -2:
        return ctl_fail(err, CTL_EXIT_USAGE, "--%s: \"%s\" is too large (at most %llu)", opt, value, CTL_MAX_COUNT);
    default:
        return ctl_fail(err, CTL_EXIT_USAGE, "--%s: \"%s\" is not a whole number (0 or more)", opt, value);
    }
}

static int parse_duration_option(const char *opt, const char *value, int64_t *out, ctl_err_t *err)
{
    if (ctl_parse_duration(value, out) != 0)
        return ctl_fail(err, CTL_EXIT_USAGE, "--%s: \"%s\" is not a duration (N, Ns, Nm, Nh or Nd, at most 36500d)", opt, value);
    return CTL_EXIT_OK;
}

/*
 * token sign --claim NAME=VALUE: a string claim. The claims that other options set, and the
 * NumericDate ones (a string there would make the token malformed), cannot be given this way.
 */
static int add_claim(ctl_args_t *a, const char *value, ctl_err_t *err)
{
    static const char *const reserved[] = {"iss", "sub", "aud", "exp", "iat", "nbf"};
    const char *eq = strchr(value, '=');
    size_t n = eq != NULL ? (size_t)(eq - value) : 0;
    if (n == 0 || !sc_text_line_valid(value, 1024))
        return ctl_fail(err, CTL_EXIT_USAGE, "--claim: \"%s\" is not NAME=VALUE (no control characters)", value);
    for (size_t i = 0; i != sizeof(reserved) / sizeof(reserved[0]); ++i)
        if (strlen(reserved[i]) == n && memcmp(reserved[i], value, n) == 0)
            return ctl_fail(err, CTL_EXIT_USAGE, "--claim: \"%.*s\" is set by sidecarctl (--issuer, --sub, --aud, --ttl)", (int)n,
                            value);
    for (size_t i = 0; i != a->num_claims; ++i)
        if (strncmp(a->claims[i], value, n + 1) == 0)
            return ctl_fail(err, CTL_EXIT_USAGE, "--claim: \"%.*s\" given twice", (int)n, value);
    if (a->num_claims == CTL_TOKEN_MAX_CLAIMS)
        return ctl_fail(err, CTL_EXIT_USAGE, "--claim: at most %d claims", CTL_TOKEN_MAX_CLAIMS);
    a->claims[a->num_claims++] = value;
    return CTL_EXIT_OK;
}

/* A token sign option taken as it is: it ends up in the token (or names its key), so one line. */
static int token_text(const char *opt, const char *value, const char **slot, ctl_err_t *err)
{
    if (!sc_text_line_valid(value, 1024))
        return ctl_fail(err, CTL_EXIT_USAGE, "--%s: must be 1 to 1024 characters, without control characters", opt);
    *slot = value;
    return CTL_EXIT_OK;
}

/* --alg: a JWS algorithm name, exactly (RFC 7515 names are case-sensitive). */
static int apply_alg(ctl_args_t *a, const char *value, ctl_err_t *err)
{
    if (sc_jwks_alg_from_name(value, strlen(value)) == SC_JWS_ALG_INVALID)
        return ctl_fail(err, CTL_EXIT_USAGE, "--alg: \"%s\" is not a supported JWS algorithm (RS256, ES256, HS256, ...)", value);
    a->alg = value;
    return CTL_EXIT_OK;
}

/* ------------------------------------------------------------------ applying options */

static int apply_command_option(ctl_args_t *a, unsigned bit, const char *value, ctl_err_t *err)
{
    switch (bit) {
    case CTL_OPT_SERVICES:
        return parse_list("services", value, service_name_valid, 0, &a->services, err);
    case CTL_OPT_SCOPES:
        return parse_list("scopes", value, scope_valid, 1, &a->scopes, err);
    case CTL_OPT_RATE:
        return parse_count_option("rate", value, &a->rate, err);
    case CTL_OPT_BURST:
        return parse_count_option("burst", value, &a->burst, err);
    case CTL_OPT_QUOTA:
        return parse_count_option("quota", value, &a->quota, err);
    case CTL_OPT_ISSUER:
        return add_issuer(a, value, err);
    case CTL_OPT_EXPIRES:
        if (parse_duration_option("expires", value, &a->expires_s, err) != CTL_EXIT_OK)
            return CTL_EXIT_USAGE;
        if (a->expires_s == 0)
            return ctl_fail(err, CTL_EXIT_USAGE, "--expires: must be more than 0 (leave it out for a key that never expires)");
        return CTL_EXIT_OK;
    case CTL_OPT_NAME:
        if (!sc_text_line_valid(value, CTL_NAME_MAX))
            return ctl_fail(err, CTL_EXIT_USAGE, "--name: must be 1 to %d characters, without control characters", CTL_NAME_MAX);
        a->key_name = value;
        return CTL_EXIT_OK;
    case CTL_OPT_DRY_RUN:
        return CTL_EXIT_OK;
    case CTL_OPT_KEY_FILE:
        return token_text("key-file", value, &a->key_file, err);
    case CTL_OPT_KID:
        return token_text("kid", value, &a->kid, err);
    case CTL_OPT_SUB:
        return token_text("sub", value, &a->subject, err);
    case CTL_OPT_AUD:
        return token_text("aud", value, &a->audience, err);
    case CTL_OPT_TENANT_CLAIM:
        return token_text("tenant-claim", value, &a->tenant_claim, err);
    case CTL_OPT_ALG:
        return apply_alg(a, value, err);
    case CTL_OPT_CLAIM:
        return add_claim(a, value, err);
    case CTL_OPT_TTL:
        if (parse_duration_option("ttl", value, &a->ttl_s, err) != CTL_EXIT_OK)
            return CTL_EXIT_USAGE;
        if (a->ttl_s == 0)
            return ctl_fail(err, CTL_EXIT_USAGE, "--ttl: must be more than 0");
        return CTL_EXIT_OK;
    case CTL_OPT_TENANT:
        if (!sc_text_tenant_id_valid(value, strlen(value)))
            return ctl_fail(err, CTL_EXIT_USAGE, "--tenant: invalid tenant ID \"%s\"", value);
        a->tenant_filter = value;
        return CTL_EXIT_OK;
    case CTL_OPT_SINCE:
        if (ctl_parse_since(value, &a->since_s, &a->since_absolute) != 0)
            return ctl_fail(
                err, CTL_EXIT_USAGE,
                "--since: \"%s\" is neither a duration (90m, 2h, 7d) nor a UTC time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)", value);
        return CTL_EXIT_OK;
    default: /* CTL_OPT_GRACE */
        return parse_duration_option("grace", value, &a->grace_s, err);
    }
}

static int set_once(const char **slot, const char *name, const char *value, ctl_err_t *err)
{
    if (*slot != NULL)
        return ctl_fail(err, CTL_EXIT_USAGE, "--%s given twice", name);
    if (*value == '\0')
        return ctl_fail(err, CTL_EXIT_USAGE, "--%s: the value is empty", name);
    *slot = value;
    return CTL_EXIT_OK;
}

static int apply_option(ctl_args_t *a, const struct command_spec *cmd, const option_use_t *use, ctl_err_t *err)
{
    const struct option_spec *o = use->spec;
    switch (o->id) {
    case OPT_REDIS:
        return set_once(&a->redis_url, o->name, use->value, err);
    case OPT_CONFIG:
        return set_once(&a->config_file, o->name, use->value, err);
    case OPT_REDIS_USER:
        if (!ctl_word_valid(use->value))
            return ctl_fail(err, CTL_EXIT_USAGE, "--redis-user: \"%s\" is not a valid user name", use->value);
        return set_once(&a->redis_user, o->name, use->value, err);
    case OPT_REDIS_PASSWORD_FILE:
        return set_once(&a->redis_password_file, o->name, use->value, err);
    case OPT_AUDIT_MAX:
        if (a->audit_max_entries != 0)
            return ctl_fail(err, CTL_EXIT_USAGE, "--%s given twice", o->name);
        if (parse_count_option(o->name, use->value, &a->audit_max_entries, err) != CTL_EXIT_OK)
            return CTL_EXIT_USAGE;
        if (a->audit_max_entries == 0)
            return ctl_fail(err, CTL_EXIT_USAGE, "--%s: must be at least 1", o->name);
        return CTL_EXIT_OK;
    case OPT_ACTOR:
        if (!sc_text_line_valid(use->value, CTL_ACTOR_MAX))
            return ctl_fail(err, CTL_EXIT_USAGE, "--actor: must be 1 to %d characters, without control characters", CTL_ACTOR_MAX);
        return set_once(&a->actor, o->name, use->value, err);
    case OPT_REDIS_CLUSTER:
        a->redis_cluster = 1;
        return CTL_EXIT_OK;
    case OPT_JSON:
        a->json = 1;
        return CTL_EXIT_OK;
    case OPT_YES:
        a->yes = 1;
        return CTL_EXIT_OK;
    case OPT_HELP:
    case OPT_VERSION:
        return CTL_EXIT_OK; /* handled by the scan */
    case OPT_COMMAND:
        break;
    }
    if ((cmd->options & o->bit) == 0)
        return ctl_fail(err, CTL_EXIT_USAGE, "%s does not take --%s (try sidecarctl --help)", cmd->name, o->name);
    if ((a->given & o->bit) != 0 && o->bit != CTL_OPT_ISSUER && o->bit != CTL_OPT_CLAIM)
        return ctl_fail(err, CTL_EXIT_USAGE, "--%s given twice", o->name);
    a->given |= o->bit;
    return apply_command_option(a, o->bit, use->value, err);
}

/* ------------------------------------------------------------------ scanning argv */

static void scan_error(scan_t *s, int status, const char *fmt, const char *arg)
{
    if (s->status == CTL_EXIT_OK)
        s->status = ctl_fail(&s->first_err, status, fmt, arg);
}

/* "--name", "--name=value", "-c": the option's spec, and a value attached with '='. */
static const struct option_spec *find_option(const char *arg, const char **attached)
{
    *attached = NULL;
    for (size_t i = 0; i != sizeof(options) / sizeof(options[0]); ++i) {
        const struct option_spec *o = &options[i];
        if (arg[1] != '-') {
            if (o->short_name != 0 && arg[1] == o->short_name && arg[2] == '\0')
                return o;
            continue;
        }
        size_t n = strlen(o->name);
        if (strncmp(arg + 2, o->name, n) == 0 && (arg[2 + n] == '\0' || arg[2 + n] == '=')) {
            if (arg[2 + n] == '=')
                *attached = arg + 3 + n;
            return o;
        }
    }
    return NULL;
}

/* Consumes one option starting at argv[*i]; advances *i past its value. */
static void scan_option(scan_t *s, int argc, char **argv, int *i)
{
    const char *arg = argv[*i], *value;
    const struct option_spec *o = find_option(arg, &value);
    if (o == NULL) {
        scan_error(s, CTL_EXIT_USAGE, "unknown option \"%s\" (try sidecarctl --help)", arg);
        return;
    }
    s->help |= o->id == OPT_HELP;
    s->version |= o->id == OPT_VERSION;
    if (o->takes_value && value == NULL) {
        if (*i + 1 >= argc) {
            scan_error(s, CTL_EXIT_USAGE, "option %s needs a value", arg);
            return;
        }
        value = argv[++*i];
    } else if (!o->takes_value && value != NULL) {
        scan_error(s, CTL_EXIT_USAGE, "option --%s takes no value", o->name);
        return;
    }
    s->uses[s->num_uses++] = (option_use_t){o, value};
}

static void scan_argv(scan_t *s, int argc, char **argv)
{
    int options_done = 0;
    for (int i = 1; i < argc; ++i) {
        const char *arg = argv[i];
        if (!options_done && strcmp(arg, "--") == 0) {
            options_done = 1;
        } else if (!options_done && arg[0] == '-' && arg[1] != '\0') {
            scan_option(s, argc, argv, &i);
        } else if (s->num_words < 3) {
            s->words[s->num_words++] = arg;
        } else if (s->extra_word == NULL) {
            s->extra_word = arg;
        }
    }
}

/* ------------------------------------------------------------------ the command */

static const struct command_spec *find_command(const scan_t *s, ctl_err_t *err, int *status)
{
    const char *group = s->words[0], *verb = s->num_words > 1 ? s->words[1] : NULL;
    int group_known = 0;
    *status = CTL_EXIT_USAGE;
    if (group == NULL) {
        ctl_fail(err, CTL_EXIT_USAGE, "missing command (try sidecarctl --help)");
        return NULL;
    }
    for (size_t i = 0; i != sizeof(commands) / sizeof(commands[0]); ++i) {
        const struct command_spec *c = &commands[i];
        if (strcmp(c->group, group) != 0)
            continue;
        group_known = 1;
        if (c->verb == NULL || (verb != NULL && strcmp(c->verb, verb) == 0))
            return c;
    }
    if (!group_known)
        ctl_fail(err, CTL_EXIT_USAGE, "unknown command \"%s\" (try sidecarctl --help)", group);
    else if (verb == NULL)
        ctl_fail(err, CTL_EXIT_USAGE, "%s: missing command (%s)", group,
                 strcmp(group, "tenant") == 0  ? "create, get, list, update, suspend, activate or delete"
                 : strcmp(group, "token") == 0 ? "sign"
                                               : "create, list, revoke or rotate");
    else
        ctl_fail(err, CTL_EXIT_USAGE, "unknown command \"%s %s\" (try sidecarctl --help)", group, verb);
    return NULL;
}

/* The words after the command: exactly the one argument it takes, if any. */
static int check_target(const struct command_spec *c, const scan_t *s, ctl_args_t *a, ctl_err_t *err)
{
    static const char *const what[] = {NULL, "tenant ID", "key ID", "FILE"};
    size_t first = c->verb != NULL ? 2 : 1, want = c->arg == ARG_NONE ? 0 : 1;
    size_t have = s->num_words - first + (s->extra_word != NULL);
    if (have > want) {
        const char *extra = first + want < s->num_words ? s->words[first + want] : s->extra_word;
        return ctl_fail(err, CTL_EXIT_USAGE, "%s: unexpected argument \"%s\"", c->name, extra);
    }
    if (want == 0)
        return CTL_EXIT_OK;
    if (have == 0)
        return ctl_fail(err, CTL_EXIT_USAGE, "%s: missing %s", c->name, what[c->arg]);
    a->target = s->words[first];
    if (c->arg == ARG_TENANT && !sc_text_tenant_id_valid(a->target, strlen(a->target)))
        return ctl_fail(err, CTL_EXIT_USAGE, "invalid tenant ID \"%s\": use 1 to 64 characters of A-Z a-z 0-9 . _ -", a->target);
    if (c->arg == ARG_KEY_ID && !ctl_key_id_valid(a->target))
        return ctl_fail(err, CTL_EXIT_USAGE, "invalid key ID \"%s\": use 1 to 64 characters of A-Z a-z 0-9 . _ -", a->target);
    if (c->arg == ARG_FILE && a->target[0] == '\0')
        return ctl_fail(err, CTL_EXIT_USAGE, "%s: the file name is empty", c->name);
    return CTL_EXIT_OK;
}

/* token sign: the issuer (one, named), the key and the tenant are required. */
static int check_token_sign(const ctl_args_t *a, ctl_err_t *err)
{
    if (a->issuers == NULL)
        return ctl_fail(err, CTL_EXIT_USAGE, "token sign: --issuer is required");
    if (strcmp(a->issuers, "*") == 0 || strchr(a->issuers, ' ') != NULL)
        return ctl_fail(err, CTL_EXIT_USAGE, "token sign: --issuer names exactly one issuer");
    if (a->key_file == NULL)
        return ctl_fail(err, CTL_EXIT_USAGE, "token sign: --key-file is required (a PEM private key, or an HMAC secret file)");
    if (a->tenant_filter == NULL)
        return ctl_fail(err, CTL_EXIT_USAGE, "token sign: --tenant is required");
    if (a->scopes != NULL && strcmp(a->scopes, "*") == 0)
        return ctl_fail(err, CTL_EXIT_USAGE, "--scopes: a token lists its scopes one by one; '*' is for tenants only");
    return CTL_EXIT_OK;
}

/* Rules that involve more than one option. */
static int check_combination(const ctl_args_t *a, ctl_err_t *err)
{
    if (a->command == CTL_CMD_TENANT_UPDATE && (a->given & CTL_OPTS_TENANT_FIELDS) == 0)
        return ctl_fail(err, CTL_EXIT_USAGE,
                        "tenant update: nothing to change (give --services, --scopes, --rate, --burst, --quota or --issuer)");
    if (a->command == CTL_CMD_KEY_CREATE && a->scopes != NULL && strcmp(a->scopes, "*") == 0)
        return ctl_fail(err, CTL_EXIT_USAGE, "--scopes: a key lists its scopes one by one; '*' is for tenants only");
    if (a->command == CTL_CMD_TOKEN_SIGN)
        return check_token_sign(a, err);
    return CTL_EXIT_OK;
}

int ctl_args_parse(int argc, char **argv, ctl_args_t *a, ctl_err_t *err)
{
    scan_t s = {.uses = ctl_xmalloc(sizeof(option_use_t) * (size_t)(argc > 0 ? argc : 1))};
    const struct command_spec *cmd;
    int rc;

    memset(a, 0, sizeof(*a));
    a->grace_s = CTL_DEFAULT_GRACE_S;
    a->ttl_s = CTL_TOKEN_DEFAULT_TTL_S;
    scan_argv(&s, argc, argv);
    if (s.help || s.version) {
        a->command = s.help ? CTL_CMD_HELP : CTL_CMD_VERSION;
        rc = CTL_EXIT_OK;
        goto Exit;
    }
    if ((rc = s.status) != CTL_EXIT_OK) {
        *err = s.first_err;
        goto Exit;
    }
    if ((cmd = find_command(&s, err, &rc)) == NULL)
        goto Exit;
    a->command = cmd->command;
    a->command_name = cmd->name;
    if ((rc = check_target(cmd, &s, a, err)) != CTL_EXIT_OK)
        goto Exit;
    for (size_t i = 0; i != s.num_uses; ++i)
        if ((rc = apply_option(a, cmd, &s.uses[i], err)) != CTL_EXIT_OK)
            goto Exit;
    rc = check_combination(a, err);
Exit:
    free(s.uses);
    return rc;
}

void ctl_args_free(ctl_args_t *a)
{
    free(a->services);
    free(a->scopes);
    free(a->issuers);
    a->services = a->scopes = a->issuers = NULL;
}
