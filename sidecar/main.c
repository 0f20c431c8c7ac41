/*
 * policy-sidecar: authenticates, authorizes and rate-limits requests for the services of one
 * host, and forwards them to the service's local port.
 *
 * Start-up order: parse the command line, load and validate the whole configuration (nothing
 * listens before it is valid), then hand over to the server, which binds, starts the workers
 * and waits for a signal.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "config.h"
#include "log.h"
#include "server.h"
#include "version.h"

/* Exit statuses: 0 success, 1 runtime failure, 2 bad usage or invalid configuration. */
enum { EXIT_USAGE = 2 };

static void usage(FILE *out)
{
    fprintf(out, "usage: policy-sidecar -c FILE [--check]\n"
                 "\n"
                 "  -c, --config FILE   host configuration (YAML)\n"
                 "      --check         validate the configuration and its policies, then exit:\n"
                 "                      0 when valid, 2 when not\n"
                 "  -v, --verbose       debug logging\n"
                 "      --version       print the version\n"
                 "  -h, --help          this text\n"
                 "\n"
                 "Signals: SIGTERM or SIGINT stops accepting, lets requests in flight finish\n"
                 "(shutdown_grace_s), then exits 0.\n");
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"check", no_argument, NULL, 'C'}, {"verbose", no_argument, NULL, 'v'},
        {"version", no_argument, NULL, 'V'},      {"help", no_argument, NULL, 'h'},  {NULL, 0, NULL, 0},
    };
    const char *config_file = NULL;
    int check_only = 0, opt;
    char err[1024];

    while ((opt = getopt_long(argc, argv, "c:vh", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_file = optarg;
            break;
        case 'C':
            check_only = 1;
            break;
        case 'v':
            sc_log_set_level(SC_LOG_DEBUG);
            break;
        case 'V':
            printf("policy-sidecar %s\n", SC_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (config_file == NULL || optind != argc) {
        fprintf(stderr, "policy-sidecar: %s\n", config_file == NULL ? "-c FILE is required" : "unexpected argument");
        usage(stderr);
        return EXIT_USAGE;
    }

    sc_config_t *config = sc_config_load_file(config_file, err, sizeof(err));
    if (config == NULL) {
        fprintf(stderr, "policy-sidecar: %s\n", err);
        return EXIT_USAGE;
    }
    if (check_only) {
        printf("%s: OK (%zu service(s))\n", config_file, config->num_services);
        sc_config_free(config);
        return 0;
    }
    int status = sc_server_run(config, sc_admin_register);
    sc_config_release(config);
    return status;
}
