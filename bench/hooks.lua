-- wrk script for the leadgate benchmark: POSTs pre-generated bodies, each one at most once per run,
-- so the gateway's dedupe never answers from memory. One body per line; a line "SIGNATURE<TAB>BODY"
-- also sends SIGNATURE in the signature header (facebook bodies are pre-signed).
--
--   BENCH_HISTOGRAM=FILE wrk -t1 -c32 -d10s --latency -s bench/hooks.lua URL -- BODIES_FILE CONTENT_TYPE SIGNATURE_HEADER THREADS
--
-- Thread i of THREADS takes lines i, i+THREADS, ...; `wrapped` counts how often a thread ran out and
-- started over (then bodies repeat: the run report says so). done() prints one BENCH_JSON line and
-- writes the latency histogram ("microseconds count" per line) to $BENCH_HISTOGRAM, so runs can be merged.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local bodies = {}
local signatures = {}
local count = 0
local position = 0
local content_type = "application/x-www-form-urlencoded"
local signature_header = "X-Signature"
wrapped = 0

function init(args)
  local path = args[1]
  content_type = args[2] or content_type
  signature_header = args[3] or signature_header
  local stride = tonumber(args[4] or "1")
  local mine = id or 0
  local line_no = 0
  for line in io.lines(path) do
    if line_no % stride == mine then
      count = count + 1
      local tab = string.find(line, "\t", 1, true)
      if tab then
        signatures[count] = string.sub(line, 1, tab - 1)
        bodies[count] = string.sub(line, tab + 1)
      else
        bodies[count] = line
      end
    end
    line_no = line_no + 1
  end
end

function request()
  position = position + 1
  if position > count then
    position = 1
    wrapped = wrapped + 1
  end
  local headers = { ["Content-Type"] = content_type }
  local signature = signatures[position]
  if signature then
    headers[signature_header] = signature
  end
  return wrk.format("POST", nil, headers, bodies[position])
end

function done(summary, latency, requests)
  local histogram_file = os.getenv("BENCH_HISTOGRAM")
  if histogram_file and histogram_file ~= "" then
    local out = io.open(histogram_file, "w")
    for i = 1, #latency do
      local value, count = latency(i)
      out:write(string.format("%d %d\n", value, count))
    end
    out:close()
  end
  local wraps = 0
  for _, thread in ipairs(threads) do
    wraps = wraps + (thread:get("wrapped") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, '
      .. '"write_errors": %d, "status_errors": %d, "timeouts": %d, "p50_us": %d, "p99_us": %d, '
      .. '"max_us": %d, "wrapped": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, wraps
  ))
end
