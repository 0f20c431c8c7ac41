#include "gcra.h"

#define NS_PER_S 1000000000ULL

sc_gcra_result_t sc_gcra_decide(uint64_t tat, uint64_t now_ns, sc_gcra_limit_t limit, uint64_t *new_tat)
{
    uint64_t interval = NS_PER_S / limit.rate;   /* >= 1000 ns with rate <= 1e6 */
    uint64_t tolerance = interval * limit.burst; /* <= 1e9 * 1e6: far below 2^64 */
    uint64_t start = tat > now_ns ? tat : now_ns;
    uint64_t next = start + interval;
    sc_gcra_result_t r = {0, 0, 0, 0};

    if (next - now_ns > tolerance) {
        r.retry_after_ns = next - now_ns - tolerance;
        r.reset_ns = start - now_ns;
        *new_tat = tat;
        return r;
    }
    r.allowed = 1;
    r.remaining = (tolerance - (next - now_ns)) / interval;
    r.reset_ns = next - now_ns;
    *new_tat = next;
    return r;
}
