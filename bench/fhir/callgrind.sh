# Sourced by the bench/fhir callgrind scripts (after processes.sh).

# callgrind_serve TB CONFIG LOG OUT_PREFIX: `TB serve --config CONFIG` under callgrind on CPU1,
# its counts dumped to OUT_PREFIX.out.* and its output appended to LOG (emptied first); sets
# `broker` and adds it to `pids`.
callgrind_serve() {
  : >"$3"
  rm -f "$4".out*
  taskset -c 1 valgrind --tool=callgrind --callgrind-out-file="$4.out" \
    "$1" serve --config "$2" >>"$3" 2>&1 &
  broker=$!
  pids+=("$broker")
}

# callgrind_window PID LOG DUMP_PREFIX: waits 10 s
# for the broker under valgrind (PID) to warm up, zeroes its counts, counts the requests its log
# (LOG) records over the next 20 s, dumps its counts (DUMP_PREFIX.out.*) and sets `dump`,
# `requests` and `per_req` (instructions per request) and `per_req_busy` (the same without the
# delivery worker's queue polling, ~30-40M instructions per 20 s whatever the load, so that the
# figure does not depend on how many requests the machine let through in the window).
callgrind_window() {
  sleep 10
  callgrind_control -z "$1" >/dev/null 2>&1
  local first last total idle
  first=$(grep -c '"http_request"' "$2")
  sleep 20
  last=$(grep -c '"http_request"' "$2")
  callgrind_control -d "$1" >/dev/null 2>&1
  dump=$(ls -t "$3".out.* | head -1)
  total=$(awk '/^summary:/ {print $2; exit}' "$dump")
  idle=$(callgrind_annotate --inclusive=yes --threshold=100 "$dump" 2>/dev/null |
    awk '!n && /DeliveryWorker::Start\(\)::\{lambda\(\)#1\}> > >::_M_run\(\)/ {n = $1}
         END {gsub(",", "", n); print n}')
  requests=$((last - first))
  per_req=$((total / requests))
  per_req_busy=$(((total - ${idle:-0}) / requests))
}
