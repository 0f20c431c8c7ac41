/* libFuzzer target: the YAML loaders. The first byte chooses: 'h' the host file
 * (sc_config_load_string, which also loads the policies and key files it names, relative to a
 * directory that does not exist), anything else a policy (sc_policy_load_string). Run with
 * standard input on /dev/null (run.sh does): a host file may name any path. */
#include <stdint.h>
#include <stdlib.h>

#include "config.h"
#include "policy_load.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];
    if (size == 0)
        return 0;
    const char *text = (const char *)data + 1;
    if (data[0] == 'h') {
        sc_config_t *c = sc_config_load_string(text, size - 1, "/nonexistent-fuzz-dir/sidecar.yaml", err, sizeof(err));
        if (c != NULL)
            sc_config_release(c);
    } else {
        sc_policy_free(sc_policy_load_string(text, size - 1, "fuzz-policy.yaml", err, sizeof(err)));
    }
    return 0;
}
