-- wrk script for bench/ingest.sh: each request is a distinct Gong call webhook with its own
-- pre-signed RS256 token, so the relay does the full work (verify, hash, store durably)
-- and never answers from its duplicate or replay path.
--
-- Environment: BENCH_TOKENS (lines "<id> <token>"), BENCH_TEMPLATE (body with __ID__),
-- BENCH_THREADS (must equal wrk -t: init() cannot learn the thread count by itself,
-- because wrk calls setup() and init() for one thread before creating the next).

local tokens_path = os.getenv("BENCH_TOKENS") or "bench/out/tokens.txt"
local template_path = os.getenv("BENCH_TEMPLATE") or "bench/call_template.json"
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "2")

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local ids, toks, n, pos, wrapped = {}, {}, 0, 0, false
local prefix, suffix
reused = 0 -- global so that done() can read it through thread:get

function init(args)
  local f = assert(io.open(template_path, "rb"))
  local body = f:read("*a")
  f:close()
  local s, e = body:find("__ID__", 1, true)
  assert(s, "no __ID__ in " .. template_path)
  prefix, suffix = body:sub(1, s - 1), body:sub(e + 1)

  -- Disjoint shares of the file, so that no token is sent by two threads.
  local line_no = 0
  for line in io.lines(tokens_path) do
    if line_no % nthreads == tid then
      local sp = line:find(" ", 1, true)
      n = n + 1
      ids[n], toks[n] = line:sub(1, sp - 1), line:sub(sp + 1)
    end
    line_no = line_no + 1
  end
  assert(n > 0, "thread " .. tid .. " got no tokens from " .. tokens_path)
end

function request()
  pos = pos + 1
  if pos > n then
    -- Out of tokens: wrap around. The relay must refuse these as replays (401); counted
    -- so that a too-small token file is visible instead of silently skewing the figures.
    pos, wrapped = 1, true
  end
  if wrapped then reused = reused + 1 end
  return wrk.format("POST", nil,
    { ["Content-Type"] = "application/json", ["Authorization"] = toks[pos] },
    prefix .. ids[pos] .. suffix)
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  local replays = 0
  for _, t in ipairs(threads) do replays = replays + (t:get("reused") or 0) end
  local function ms(p) return latency:percentile(p) / 1000 end
  io.write(string.format("requests/s        %.1f\n", summary.requests / secs))
  io.write(string.format("latency p50/95/99 %.2f / %.2f / %.2f ms\n", ms(50), ms(95), ms(99)))
  io.write(string.format("non-2xx           %d (of %d; %d sent with reused tokens)\n",
    e.status, summary.requests, replays))
  io.write(string.format("socket errors     connect %d, read %d, write %d, timeout %d\n",
    e.connect, e.read, e.write, e.timeout))
  -- One machine-readable line for ingest.sh's summary table.
  io.write(string.format("RESULT rps=%.1f p50=%.2f p95=%.2f p99=%.2f non2xx=%d requests=%d reused=%d sockerr=%d\n",
    summary.requests / secs, ms(50), ms(95), ms(99), e.status, summary.requests, replays,
    e.connect + e.read + e.write + e.timeout))
end
