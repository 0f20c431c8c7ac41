#include "ratelimit_lease_budget.h"

#include <string.h>

#define NS_PER_S 1000000000ULL

void sc_ratelimit_lease_budget_init(sc_ratelimit_lease_budget_t *b, sc_gcra_limit_t limit, uint64_t quota, uint64_t day)
{
    memset(b, 0, sizeof(*b));
    b->limit = limit;
    b->quota = quota;
    b->day = day;
    b->holders = 1;
}

int sc_ratelimit_lease_budget_matches(const sc_ratelimit_lease_budget_t *b, sc_gcra_limit_t limit, uint64_t quota, uint64_t day)
{
    return b->limit.rate == limit.rate && b->limit.burst == limit.burst && b->quota == quota && b->day == day;
}

static uint64_t until(uint64_t at_ns, uint64_t now_ns)
{
    return at_ns > now_ns ? at_ns - now_ns : 0;
}

/* The shared view after this request: what Redis had left plus what this lease still holds. */
static void admit(sc_ratelimit_lease_budget_t *b, uint64_t now_ns, sc_limit_decision_t *d)
{
    --b->tokens;
    ++b->spent_since_acquire;
    ++b->spent_period;
    memset(d, 0, sizeof(*d));
    d->gcra.allowed = 1;
    d->gcra.remaining = b->shared_remaining + b->tokens;
    d->gcra.reset_ns = until(b->reset_at_ns, now_ns);
}

static void refuse(const sc_ratelimit_lease_budget_t *b, uint64_t now_ns, sc_limit_decision_t *d)
{
    memset(d, 0, sizeof(*d));
    d->quota_exhausted = b->quota_exhausted;
    d->gcra.retry_after_ns = until(b->retry_at_ns, now_ns);
    d->gcra.reset_ns = d->gcra.retry_after_ns;
}

sc_ratelimit_lease_outcome_t sc_ratelimit_lease_budget_spend(sc_ratelimit_lease_budget_t *b, uint64_t now_ns,
                                                             sc_limit_decision_t *d)
{
    if (b->tokens != 0) {
        admit(b, now_ns, d);
        return SC_RATELIMIT_LEASE_SPENT;
    }
    if (now_ns < b->refused_until_ns) {
        refuse(b, now_ns, d);
        return SC_RATELIMIT_LEASE_REFUSED;
    }
    return SC_RATELIMIT_LEASE_EMPTY;
}

uint64_t sc_ratelimit_lease_budget_cap(sc_gcra_limit_t limit, uint64_t holders)
{
    uint64_t per_period = limit.rate * SC_RATELIMIT_LEASE_PERIOD_NS / NS_PER_S; /* rate <= 1e6: no overflow */
    uint64_t share = limit.burst / 2 < per_period ? limit.burst / 2 : per_period;
    share /= holders != 0 ? holders : 1;
    return share != 0 ? share : 1;
}

uint64_t sc_ratelimit_lease_budget_want(sc_ratelimit_lease_budget_t *b, uint64_t now_ns, uint64_t queued)
{
    uint64_t want = 1; /* the first acquire knows no demand yet */
    uint64_t elapsed = now_ns - b->acquired_at_ns;
    if (b->acquired_at_ns != 0 && elapsed != 0) /* spent_since_acquire <= 1e6 a period: no overflow */
        want = (b->spent_since_acquire * SC_RATELIMIT_LEASE_PERIOD_NS + elapsed - 1) / elapsed;
    uint64_t cap = sc_ratelimit_lease_budget_cap(b->limit, b->holders);
    if (want > cap)
        want = cap;
    if (want < queued)
        want = queued; /* taken for requests already waiting: spent at once, never hoarded */
    if (want == 0)
        want = 1;
    b->acquired_at_ns = now_ns;
    b->spent_since_acquire = 0;
    return want;
}

void sc_ratelimit_lease_budget_granted(sc_ratelimit_lease_budget_t *b, const sc_ratelimit_lease_grant_t *g, uint64_t now_ns)
{
    /* Redis's "now" was between the acquire's send and this reply: counting its durations from
       the send errs towards asking again a little early, never towards refusing too long (a
       reply delayed on a busy loop would otherwise push every refusal later) */
    uint64_t asked_at = b->acquired_at_ns != 0 && b->acquired_at_ns <= now_ns ? b->acquired_at_ns : now_ns;
    b->tokens += g->granted;
    b->shared_remaining = g->remaining;
    b->reset_at_ns = asked_at + g->reset_ns;
    b->holders = g->holders != 0 ? g->holders : 1;
    b->refused_until_ns = 0;
    if (!g->short_of_tokens)
        return;
    /* the bucket is short: nobody gets a token before the next is due, so refuse until then
       without asking; for at most a period, so that tokens given back are seen again */
    uint64_t wait =
        g->quota_exhausted || g->retry_after_ns > SC_RATELIMIT_LEASE_PERIOD_NS ? SC_RATELIMIT_LEASE_PERIOD_NS : g->retry_after_ns;
    b->refused_until_ns = asked_at + (wait != 0 ? wait : 1);
    b->retry_at_ns = asked_at + g->retry_after_ns;
    b->quota_exhausted = g->quota_exhausted;
}

uint64_t sc_ratelimit_lease_budget_rebalance(sc_ratelimit_lease_budget_t *b)
{
    /* keep what the last period's demand would spend; nothing when there was none */
    uint64_t keep = b->spent_period < b->tokens ? b->spent_period : b->tokens;
    uint64_t back = b->tokens - keep;
    b->tokens = keep;
    b->spent_period = 0;
    return back;
}

int sc_ratelimit_lease_budget_idle(const sc_ratelimit_lease_budget_t *b, uint64_t now_ns)
{
    return b->tokens == 0 && b->spent_period == 0 && now_ns >= b->refused_until_ns;
}
