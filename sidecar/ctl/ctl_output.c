#include "ctl_output.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "schema.h"
#include "version.h"

static const char help_text[] =
    "usage: sidecarctl [global options] COMMAND [ARGUMENTS] [options]\n"
    "\n"
    "Manages the tenants and API keys that policy-sidecar reads from Redis. Every change is one\n"
    "atomic transaction, recorded in the audit stream and announced to every sidecar at once.\n"
    "\n"
    "Tenants:\n"
    "  tenant create ID [--services a,b] [--scopes s1,s2] [--rate N] [--burst N] [--quota N] [--issuer ISS]...\n"
    "                           create an active tenant; without --services it may use every service ('*')\n"
    "  tenant get ID            show a tenant's record\n"
    "  tenant list              list the tenants\n"
    "  tenant update ID [the options of create]\n"
    "                           change only the given fields\n"
    "  tenant suspend ID        refuse every request of the tenant (403)\n"
    "  tenant activate ID       undo suspend\n"
    "  tenant delete ID         delete the tenant, its API keys and its rate-limit and quota\n"
    "                           counters (asks first, unless --yes)\n"
    "\n"
    "API keys:\n"
    "  key create TENANT [--scopes s1,s2] [--expires 30d] [--name TEXT]\n"
    "                           make a key: it is printed once; only its SHA-256 is stored\n"
    "  key list TENANT          list the tenant's keys (ids and records, never keys)\n"
    "  key revoke KEY_ID        revoke a key now\n"
    "  key rotate KEY_ID [--grace 24h]\n"
    "                           make a new key with the same tenant, name, scopes and lifetime; the old\n"
    "                           key expires after the grace period (default 24h; 0: revoked now)\n"
    "\n"
    "Backup:\n"
    "  export                   print every tenant and key record as JSON (hashes, never keys)\n"
    "  import FILE              check the whole file, then write it tenant by tenant, replacing\n"
    "                           existing records and keys of those tenants ('-': standard input)\n"
    "  import FILE --dry-run    check the file and print what it would change; write nothing\n"
    "\n"
    "Test tokens (no Redis):\n"
    "  token sign --issuer ISS --key-file FILE --tenant ID [--sub S] [--aud A] [--scopes s1,s2]\n"
    "             [--ttl 15m] [--alg ALG] [--kid KID] [--tenant-claim NAME] [--claim NAME=VALUE]...\n"
    "                           print a JWT signed with FILE (a PEM private key, or an HMAC secret file\n"
    "                           as hmac_secret_file reads it). With -c (or the default host file) ISS\n"
    "                           must be one of its jwt_issuers, and the token follows it: allowed\n"
    "                           algorithm, tenant and scopes claims, first audience (or client id), and\n"
    "                           the kid of the configured key that FILE matches. ALG: RS256/384/512,\n"
    "                           ES256/384, HS256/384/512 (default: from the key). --claim adds a string\n"
    "                           claim. --json prints {token, alg, kid, expires_at}.\n"
    "\n"
    "Audit:\n"
    "  audit [--tenant ID] [--since WHEN]\n"
    "                           print who changed what, oldest first; WHEN is a duration back from\n"
    "                           now (90m, 7d) or a UTC time (2026-01-31 or 2026-01-31T08:00:00Z)\n"
    "\n"
    "Options of tenant create and update:\n"
    "  --services LIST          services the tenant may use; '*': every service (the default)\n"
    "  --scopes LIST            the scopes a credential of the tenant may hold; '*': no cap (the default)\n"
    "  --rate N, --burst N      requests per second and burst size; 0: the policy's default\n"
    "  --quota N                requests per UTC day; 0: no quota\n"
    "  --issuer ISS             a JWT issuer allowed to speak for the tenant; repeat for several;\n"
    "                           '*' or none: any configured issuer\n"
    "  LIST is comma- or space-separated. A duration is N, Ns, Nm, Nh or Nd (N alone: seconds).\n"
    "\n"
    "Global options (anywhere on the line):\n"
    "  --redis URL              redis://HOST[:PORT][/DB]; default $SIDECAR_REDIS_URL, else the\n"
    "                           redis section of -c FILE\n"
    "  -c, --config FILE        the sidecar's host file: its redis section (user, password_file,\n"
    "                           prefix; --redis only overrides the address) and its services, which\n"
    "                           --services must name\n"
    "                           (default: /etc/policy-sidecar/policy-sidecar.yaml when it exists and\n"
    "                           no --redis or $SIDECAR_REDIS_URL is given; $SIDECARCTL_DEFAULT_CONFIG\n"
    "                           names another default)\n"
    "  --redis-user USER        log in as this Redis ACL user, not the host file's (which may be\n"
    "                           read-only); default $SIDECAR_REDIS_USER\n"
    "  --redis-password-file FILE\n"
    "                           that user's password (one line); default $SIDECAR_REDIS_PASSWORD\n"
    "  --redis-cluster          the address is a seed node of a Redis Cluster (the host file's\n"
    "                           redis.cluster says so too)\n"
    "  --audit-max-entries N    keep about N entries in the audit stream (XADD MAXLEN ~ N);\n"
    "                           default $SIDECAR_AUDIT_MAX_ENTRIES, else 100000\n"
    "  --actor NAME             who to record in the audit stream (default: your login name)\n"
    "  --json                   machine-readable output\n"
    "  --yes                    do not ask before deleting\n"
    "  -h, --help               this text\n"
    "  --version                print the version\n"
    "\n"
    "The Redis password is read from --redis-password-file, the host file's password_file or\n"
    "$SIDECAR_REDIS_PASSWORD, never from the command line.\n"
    "\n"
    "Exit status: 0 done; 1 refused (unknown or duplicate tenant, unknown key id...); 2 bad usage\n"
    "or input, found before Redis is contacted; 3 Redis unreachable, refused the login or failed.\n";

void ctl_output_help(FILE *out)
{
    fputs(help_text, out);
}

void ctl_output_version(void)
{
    printf("sidecarctl %s\n", SC_VERSION);
}

void ctl_output_error(const ctl_err_t *err)
{
    fprintf(stderr, "sidecarctl: %s\n", err->msg);
}

void ctl_output_warning(const char *fmt, ...)
{
    ctl_err_t msg;
    va_list ap;
    va_start(ap, fmt);
    char *text = ctl_xvasprintf(fmt, ap);
    va_end(ap);
    ctl_fail(&msg, 0, "%s", text); /* one line, whatever it quotes */
    free(text);
    fprintf(stderr, "sidecarctl: warning: %s\n", msg.msg);
}

/* ------------------------------------------------------------------ JSON */

json_t *ctl_output_tenant_json(const char *id, const ctl_record_t *rec)
{
    json_t *obj = json_object();
    json_object_set_new(obj, "id", json_string(id));
    ctl_record_to_json(CTL_RECORD_TENANT, rec, obj);
    return obj;
}

json_t *ctl_output_key_json(const ctl_key_entry_t *key)
{
    json_t *obj = json_object();
    json_object_set_new(obj, "key_id", json_string(key->key_id));
    json_object_set_new(obj, "sha256", json_string(key->sha256));
    ctl_record_to_json(CTL_RECORD_KEY, &key->rec, obj);
    return obj;
}

static int stdout_failed(ctl_err_t *err)
{
    return ctl_fail(err, CTL_EXIT_REFUSED, "cannot write to standard output: %s", strerror(errno));
}

int ctl_output_json(json_t *doc, ctl_err_t *err)
{
    int rc = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (rc != 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0)
        return stdout_failed(err);
    return CTL_EXIT_OK;
}

/* ------------------------------------------------------------------ human output */

static const char *format_time(json_int_t t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (t == 0)
        return "never";
    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "%lld", (long long)t);
    return buf;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* What a value means when it is the default, for the fields where that is not obvious. */
static const char *annotation(const char *name, const json_t *v)
{
    if (json_is_string(v) && strcmp(json_string_value(v), "*") == 0)
        return strcmp(name, SC_FIELD_SERVICES) == 0 ? " (every service)" : " (no cap)";
    if (json_is_integer(v) && json_integer_value(v) == 0)
        return strcmp(name, SC_FIELD_RATE) == 0 || strcmp(name, SC_FIELD_BURST) == 0 ? " (policy default)"
               : strcmp(name, SC_FIELD_QUOTA_DAILY) == 0                             ? " (none)"
                                                                                     : "";
    return "";
}

static void print_value(FILE *out, const char *name, const json_t *v)
{
    char buf[64];
    size_t i;
    const json_t *item;
    if (json_is_array(v)) {
        json_array_foreach(v, i, item)
        {
            fprintf(out, "%s%s", i != 0 ? " " : "", json_string_value(item));
        }
        if (json_array_size(v) == 0)
            fputs("(none)", out);
    } else if (json_is_integer(v)) {
        if (ends_with(name, "_at"))
            fputs(format_time(json_integer_value(v), buf, sizeof(buf)), out);
        else
            fprintf(out, "%lld", (long long)json_integer_value(v));
    } else {
        fputs(json_string_value(v), out);
    }
    fputs(annotation(name, v), out);
}

/* A tenant, one field a line in schema order; absent fields that mean something are named. */
static void print_tenant(const json_t *obj)
{
    const char *name;
    printf("%-12s %s\n", "tenant", json_string_value(json_object_get(obj, "id")));
    for (size_t i = 0; (name = ctl_record_field_name(CTL_RECORD_TENANT, i)) != NULL; ++i) {
        const json_t *v = json_object_get(obj, name);
        if (v == NULL && strcmp(name, SC_FIELD_SCOPES) != 0 && strcmp(name, SC_FIELD_ISSUERS) != 0)
            continue;
        printf("%-12s ", name);
        if (v != NULL)
            print_value(stdout, name, v);
        else
            fputs(strcmp(name, SC_FIELD_SCOPES) == 0 ? "(no cap)" : "(any configured issuer)", stdout);
        putchar('\n');
    }
}

int ctl_output_tenant(int json, const char *id, const ctl_record_t *rec, ctl_err_t *err)
{
    json_t *obj = ctl_output_tenant_json(id, rec);
    if (json)
        return ctl_output_json(obj, err);
    print_tenant(obj);
    json_decref(obj);
    return fflush(stdout) == 0 ? CTL_EXIT_OK : stdout_failed(err);
}

int ctl_output_tenant_list(int json, char **ids, const ctl_record_t *recs, size_t count, ctl_err_t *err)
{
    json_t *arr = json_array();
    for (size_t i = 0; i != count; ++i)
        if (recs[i].count != 0) /* deleted between SMEMBERS and HGETALL */
            json_array_append_new(arr, ctl_output_tenant_json(ids[i], &recs[i]));
    if (json)
        return ctl_output_json(arr, err);
    size_t i;
    const json_t *t;
    printf("%-24s %-10s %s\n", "TENANT", "STATUS", "SERVICES");
    json_array_foreach(arr, i, t)
    {
        printf("%-24s %-10s ", json_string_value(json_object_get(t, "id")), json_string_value(json_object_get(t, "status")));
        const json_t *services = json_object_get(t, "services");
        if (services != NULL)
            print_value(stdout, "services", services);
        putchar('\n');
    }
    json_decref(arr);
    return fflush(stdout) == 0 ? CTL_EXIT_OK : stdout_failed(err);
}

static const char *key_state(const ctl_record_t *rec, int64_t now)
{
    const char *status = ctl_record_get(rec, SC_FIELD_STATUS), *expires = ctl_record_get(rec, SC_FIELD_EXPIRES_AT);
    if (status == NULL)
        return "missing";
    if (strcmp(status, "active") == 0 && expires != NULL && strcmp(expires, "0") != 0 && strtoll(expires, NULL, 10) <= now)
        return "expired";
    return status;
}

int ctl_output_key_list(int json, const ctl_key_list_t *keys, int64_t now, ctl_err_t *err)
{
    char buf[64];
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i != keys->count; ++i)
            json_array_append_new(arr, ctl_output_key_json(&keys->items[i]));
        return ctl_output_json(arr, err);
    }
    printf("%-16s %-8s %-21s %-20s %s\n", "KEY_ID", "STATUS", "EXPIRES", "NAME", "SCOPES");
    for (size_t i = 0; i != keys->count; ++i) {
        const ctl_record_t *rec = &keys->items[i].rec;
        const char *expires = ctl_record_get(rec, SC_FIELD_EXPIRES_AT), *name = ctl_record_get(rec, SC_FIELD_NAME),
                   *scopes = ctl_record_get(rec, SC_FIELD_SCOPES);
        printf("%-16s %-8s %-21s %-20s %s\n", keys->items[i].key_id, key_state(rec, now),
               format_time(expires != NULL ? strtoll(expires, NULL, 10) : 0, buf, sizeof(buf)), name != NULL ? name : "-",
               scopes != NULL && scopes[0] != '\0' ? scopes : "-");
    }
    return fflush(stdout) == 0 ? CTL_EXIT_OK : stdout_failed(err);
}

int ctl_output_done(int json, const char *action, const char *tenant, const char *key_id, const char *human, ctl_err_t *err)
{
    if (json) {
        json_t *obj = json_object();
        json_object_set_new(obj, "action", json_string(action));
        json_object_set_new(obj, "tenant", json_string(tenant));
        if (key_id != NULL)
            json_object_set_new(obj, "key_id", json_string(key_id));
        return ctl_output_json(obj, err);
    }
    printf("%s\n", human);
    return fflush(stdout) == 0 ? CTL_EXIT_OK : stdout_failed(err);
}

/* ------------------------------------------------------------------ the secret, once */

static int write_all(int fd, const char *p, size_t len)
{
    while (len != 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int ctl_output_new_key(int json, const ctl_new_key_t *key, const ctl_rotation_t *rotation, ctl_err_t *err)
{
    char line[CTL_KEY_LEN + 2 * CTL_KEY_ID_LEN + 256], when[64];
    int n;
    /* the key and key ids are base64url and [A-Za-z0-9._-]: nothing to escape in JSON */
    if (json && rotation != NULL)
        n = snprintf(line, sizeof(line),
                     "{\"key\": \"%s\", \"key_id\": \"%s\", \"replaces\": \"%s\", \"replaced_expires_at\": %lld}\n", key->key,
                     key->key_id, rotation->old_key_id, (long long)rotation->old_expires_at);
    else if (json)
        n = snprintf(line, sizeof(line), "{\"key\": \"%s\", \"key_id\": \"%s\"}\n", key->key, key->key_id);
    else
        n = snprintf(line, sizeof(line), "%s\nkey_id %s\n", key->key, key->key_id);
    int failed = fflush(stdout) != 0 || n < 0 || (size_t)n >= sizeof(line) || write_all(STDOUT_FILENO, line, (size_t)n) != 0;
    OPENSSL_cleanse(line, sizeof(line));
    if (failed)
        return ctl_fail(err, CTL_EXIT_REFUSED, "could not print the new key %s: revoke it (sidecarctl key revoke %s)", key->key_id,
                        key->key_id);
    if (rotation != NULL && !json) {
        if (rotation->old_expires_at == 0)
            printf("replaces %s of tenant %s, revoked now\n", rotation->old_key_id, rotation->tenant);
        else
            printf("replaces %s of tenant %s, which expires at %s\n", rotation->old_key_id, rotation->tenant,
                   format_time(rotation->old_expires_at, when, sizeof(when)));
    }
    return fflush(stdout) == 0 ? CTL_EXIT_OK : stdout_failed(err);
}

int ctl_output_confirm(const char *question)
{
    char answer[16];
    fprintf(stderr, "%s [y/N] ", question);
    fflush(stderr);
    if (fgets(answer, sizeof(answer), stdin) == NULL)
        return 0;
    answer[strcspn(answer, "\r\n")] = '\0';
    return strcmp(answer, "y") == 0 || strcmp(answer, "Y") == 0 || strcmp(answer, "yes") == 0;
}
