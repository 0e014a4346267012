-- wrk script for bench/run.sh. `wrk ... -s api.lua URL -- create` POSTs small pods to URL (a
-- pod collection) with metadata.generateName, so every request makes a new pod; `-- get` sends
-- plain GETs of URL. done() prints one machine-readable line that run.sh parses, because wrk's
-- own summary counts failed requests in its rate.

local pod_body = '{"apiVersion":"v1","kind":"Pod",' ..
   '"metadata":{"generateName":"wrk-","labels":{"app":"bench"}},' ..
   '"spec":{"containers":[{"name":"c","image":"busybox"}]}}'

function init(args)
   local mode = args[1] or "get"
   wrk.headers["Accept"] = "application/json"
   if mode == "create" then
      wrk.method = "POST"
      wrk.headers["Content-Type"] = "application/json"
      wrk.body = pod_body
   elseif mode ~= "get" then
      error("api.lua: unknown mode " .. mode .. " (want create or get)")
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   local failed = e.status + e.connect + e.read + e.write + e.timeout
   -- wrk counts every answer as a request, also a 4xx or 5xx; broken connections are not.
   local ok = summary.requests - e.status
   io.write(string.format(
      "WRK ok=%d failed=%d seconds=%.6f rate=%.1f lat_p50_us=%d lat_p99_us=%d\n",
      ok, failed, summary.duration / 1e6, ok / (summary.duration / 1e6),
      latency:percentile(50), latency:percentile(99)))
end
