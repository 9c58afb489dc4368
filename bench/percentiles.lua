-- wrk reports p50, p75, p90 and p99 with --latency; the benchmark wants p95.
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format("RESULT p50=%.3f p95=%.3f requests=%d errors=%d\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, summary.requests, errors))
end
