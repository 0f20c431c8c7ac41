-- wrk script used by tests/bench/bench.sh for every peer.
--
-- The request headers come from the environment (BENCH_HEADERS: "Name: value" lines), so that
-- every peer receives byte-for-byte the same headers; bench.sh puts the common set first and a
-- peer's own headers after it (same name: the peer's value wins). done() prints one line that
-- bench.sh parses, with latencies in microseconds and the size of the request as sent, so that
-- "equal request sizes" is checked rather than assumed. p1 and p10 are there with p50..p99 because
-- two peers with the same median can differ in the spread of their latencies, and the spread is
-- what sets p99 under a closed-loop load (README, Performance: "Why p99 is wider").
--
-- No response() callback on purpose: it makes wrk parse every response into Lua tables, which
-- costs CPU on the load generator and lowers the ceiling for the fastest peers. Non-2xx/3xx
-- responses are still counted by wrk (errors.status).

wrk.method = "GET"
for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
    local name, value = line:match("^%s*([^:]-)%s*:%s*(.-)%s*$")
    if name ~= nil and name ~= "" then
        wrk.headers[name] = value
    end
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "RESULT requests=%d duration_us=%d rps=%.1f p1_us=%d p10_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
        "req_bytes=%d err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
        summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
        latency:percentile(1), latency:percentile(10), latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency.max, #wrk.format(),
        e.connect, e.read, e.write, e.status, e.timeout))
end
