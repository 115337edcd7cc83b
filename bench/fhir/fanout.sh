#!/usr/bin/env bash
# Federated query latency and CPU over 1, 3 and 10 simulated trusts answering in 20 ms:
# scripts/bench.sh's case (c) alone, plus trust T01 queried directly (what the broker adds to),
# for one or more broker binaries in the same minutes (issue 5; docs/federation.md "Performance
# (federated query over several trusts)"). Broker and all ten trusts on CPU1, tb_load on CPU0,
# 4 keep-alive mutual-TLS connections, SQLite store on the real disk. Each round starts, per
# binary, ten fresh trusts and a broker with a fresh database, so rounds interleave the binaries
# and the machine's load (shared with other builds) falls on all of them alike.
# Usage: bench/fhir/fanout.sh RUN_DIR TB_LOAD NAME=TRUSTBRIDGE [NAME=TRUSTBRIDGE...]
#        RUN_DIR: e.g. a finished scripts/bench.sh run dir (its pki/ is reused; made if absent).
# Env:   ROUNDS (default 3), SECONDS_PER_CASE (default 5), CONNS (default 4),
#        PORT_BASE (default 48700; uses the next 21 ports), LOG_LEVEL (default info),
#        MAX_IDLE_PER_TRUST (federation.max_idle_per_trust; default: the config default),
#        TRUST_TB: the trustbridge binary that runs the simulated trusts (default: the binary of
#        the case, so a change to the simulator shows in the trusts' CPU),
#        TRUST_CPU (default 1: the trusts share the broker's CPU; 0 puts them beside tb_load, to
#        see how much of the added latency is the trusts' CPU on the broker's core),
#        TRUST_LOG_LEVEL (the trusts' log_level, default warn; set but empty for binaries older
#        than d8ddc14),
#        CASES (default "alone 1 3 10"), PERF=1: perf record -g the broker of the first binary at
#        10 trusts (RUN_DIR/perf-fanout-NAME.data).
# Prints one line per case: name case p50_ms p99_ms broker_us/req trusts_us/req rate loadavg;
# the tb_load JSON stays in RUN_DIR/fanout/.
set -euo pipefail

[ $# -ge 3 ] || { sed -n 2,23p "$0" >&2; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$1"
run=$(cd "$1" && pwd)  # absolute: the configs written below name files in it
load=$2
shift 2
rounds=${ROUNDS:-3}
seconds=${SECONDS_PER_CASE:-5}
conns=${CONNS:-4}
warmup=1
broker_port=${PORT_BASE:-48700}
pki=$run/pki
mkdir -p "$run"/{logs,data,fanout,trusts}
# shellcheck source=fanout_case.sh
source "$root/bench/fhir/fanout_case.sh"
fanout_make_pki
server_cpu=(taskset -c 1)
client_cpu=(taskset -c 0)

# shellcheck source=processes.sh
source "$root/bench/fhir/processes.sh"
stop_all() {
  cleanup
  pids=()
}
cpu_ticks() {  # utime + stime of the given pids, in clock ticks
  local total=0 pid fields
  for pid in "$@"; do
    read -ra fields <"/proc/$pid/stat"
    # Fields 14 and 15 (utime, stime); the command name (field 2) has no spaces here.
    total=$((total + fields[13] + fields[14]))
  done
  echo "$total"
}

trust_pids=()
start_trusts() {  # $1 binary
  local name
  trust_pids=()
  for name in "${fanout_trusts[@]}"; do
    mkdir -p "$run/trusts/fanout-$name"
    write_fanout_trust_config "$run/trusts/fanout-$name/config.json" "$name"
    taskset -c "${TRUST_CPU:-1}" "$1" simulate-trust --config "$run/trusts/fanout-$name/config.json" \
      >>"$run/logs/fanout-trust-$name.log" 2>&1 &
    pids+=($!)
    trust_pids+=($!)
  done
  for name in "${fanout_trusts[@]}"; do wait_port "$(fanout_trust_port "$name")"; done
}

measure() {  # $1 label, $2 case, $3 pid measured by tb_load, $4 URL
  local out
  out=$run/fanout/$1-$2-$(date -u +%H%M%S).json
  local ticks=$out.trust_ticks
  # The trusts' CPU over tb_load's measured window (after its warm-up).
  (sleep "$warmup" && first=$(cpu_ticks "${trust_pids[@]}") && sleep "$seconds" &&
    echo "$first $(cpu_ticks "${trust_pids[@]}")" >"$ticks") &
  local ticks_pid=$!
  local perf_pid=
  if [ "${PERF:-0}" = 1 ] && [ "$2" = 10 ] && [ ! -f "$run/perf-fanout-$1.data" ]; then
    (sleep "$warmup" && exec perf record -g -o "$run/perf-fanout-$1.data" -p "$3" \
      -- sleep "$seconds") >/dev/null 2>&1 &
    perf_pid=$!
  fi
  "${client_cpu[@]}" "$load" https --cert "$pki/RJ1.crt" --key "$pki/RJ1.key" --ca "$pki/ca.crt" \
    --warmup "$warmup" --duration "$seconds" --server-pid "$3" --url "$4" --conns "$conns" \
    >"$out" || true
  wait "$ticks_pid" || true
  [ -z "$perf_pid" ] || wait "$perf_pid" || true
  python3 - "$1" "$2" "$out" "$ticks" "$(getconf CLK_TCK)" "$(cut -d' ' -f1 /proc/loadavg)" <<'EOF'
import json, os, sys
label, case, out, ticks, hz, load = sys.argv[1:7]
r = json.load(open(out))
trusts = "-"
if os.path.exists(ticks) and r["ok"] > 0:
    first, last = (int(x) for x in open(ticks).read().split())
    trusts = f"{(last - first) / int(hz) * 1e6 / r['ok']:7.0f}"
broker = f"{r['server_cpu_us_per_req']:7.0f}" if case != "alone" else "      -"
print(f"{label:<10} {case:>5}  p50_ms {r['p50_us'] / 1e3:6.1f}  p99_ms {r['p99_us'] / 1e3:6.1f}  "
      f"broker_us/req {broker}  trusts_us/req {trusts}  rate {r['rate']:6.1f}  "
      f"errors {r['errors']}  load {load}", flush=True)
EOF
}

binary_case() {  # $1 label, $2 binary
  start_trusts "${TRUST_TB:-$2}"
  local db=$run/data/fanout-$1.db
  rm -f "$db" "$db-wal" "$db-shm"
  write_fanout_broker_config "$run/fanout-broker-$1.json" "$db" "${LOG_LEVEL:-info}"
  "${server_cpu[@]}" "$2" serve --config "$run/fanout-broker-$1.json" \
    >>"$run/logs/fanout-broker-$1.log" 2>&1 &
  local broker=$!
  pids+=("$broker")
  wait_port "$broker_port"
  announce_fanout_patients
  local case nhs
  for case in ${CASES:-alone 1 3 10}; do
    if [ "$case" = alone ]; then
      measure "$1" alone "${trust_pids[0]}" \
        "https://127.0.0.1:$(fanout_trust_port T01)$(fanout_search "$fanout_nhs1")"
      continue
    fi
    nhs=fanout_nhs$case
    measure "$1" "$case" "$broker" "https://127.0.0.1:$broker_port$(fanout_search "${!nhs}")"
  done
  stop_all
}

for round in $(seq "$rounds"); do
  echo "round $round"
  for spec in "$@"; do binary_case "${spec%%=*}" "${spec#*=}"; done
done
