#!/usr/bin/env bash
# Server CPU per pass-through FHIR read: scripts/bench.sh's case (a) alone, for one or more broker
# binaries and nginx in the same minutes (issue 5; docs/federation.md "Performance (pass-through
# read)"). One simulated trust T00 answering at once, keep-alive mutual TLS from tb_load, server
# and trust on CPU1, load client on CPU0, SQLite store on the real disk. Brokers are restarted per
# case with a fresh database; rounds interleave the binaries so that the machine's load (shared
# with other builds) falls on all of them alike.
# Usage: bench/fhir/read_passthrough.sh RUN_DIR TB_LOAD NAME=TRUSTBRIDGE [NAME=TRUSTBRIDGE...]
# Env:   ROUNDS (default 3), SECONDS_PER_CASE (default 5), CONNS (default "16 1"),
#        PORT_BASE (default 48600; uses the next 20 ports), NGINX=0 to skip nginx,
#        PERF=1: perf record -g the first broker at 16 connections (RUN_DIR/perf-NAME.data),
#        LOG_LEVEL (default info, as shipped; "warn" shows what the per-request lines cost),
#        IO_THREADS (the broker's io_threads; default: the config default),
#        DURABILITY=off: the store's durability off (commits without fdatasync; default full),
#        COUNT=1: perf stat the server over the measured window: context switches, futex(2) calls
#        and requests per fdatasync(2) where syscall tracepoints are readable and, where the
#        machine has hardware counters, user and kernel instructions per request.
# Prints one line per case: name conns cpu_us_per_req rate p50_us loadavg.
set -euo pipefail

[ $# -ge 3 ] || { sed -n 2,17p "$0" >&2; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
run=$(cd "$1" && pwd)  # absolute: the configs written below name files in it
load=$2
shift 2
rounds=${ROUNDS:-3}
seconds=${SECONDS_PER_CASE:-5}
conns_list=${CONNS:-16 1}
port_base=${PORT_BASE:-48600}
broker_port=$port_base
trust_port=$((port_base + 1))
nginx_port=$((port_base + 2))
mkdir -p "$run"/{logs,data,trust,nginx/logs}
pki=$run/pki
[ -f "$pki/ca.crt" ] || "$root/certs/make-dev-pki.sh" --quiet "$pki" "broker-a,RJ1,admin,nginx,T00"
nhs=9990001448
search="/fhir/Patient?identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C$nhs"
server_cpu=(taskset -c 1)
client_cpu=(taskset -c 0)

# shellcheck source=processes.sh
source "$root/bench/fhir/processes.sh"
# futex(2) and fdatasync(2) calls per request too where the kernel's syscall tracepoints are
# readable (fdatasync: one per ledger or store commit, so it shows how well group commit batches).
futex_event=
if [ "${COUNT:-0}" = 1 ] && perf stat -e syscalls:sys_enter_futex -- true >/dev/null 2>&1; then
  futex_event=,syscalls:sys_enter_futex,syscalls:sys_enter_fdatasync
fi
measure() {  # $1 label, $2 pid, $3 port, $4 conns
  local out=$run/$1-c$4-$(date -u +%H%M%S).json
  local counts=$out.perf.csv stat_pid=
  if [ "${COUNT:-0}" = 1 ]; then
    (sleep 1 && exec perf stat -x, -o "$counts" \
      -e "instructions:u,instructions:k,context-switches$futex_event" \
      -p "$2" -- sleep "$seconds") >/dev/null 2>&1 &
    stat_pid=$!
  fi
  "${client_cpu[@]}" "$load" https --cert "$pki/RJ1.crt" --key "$pki/RJ1.key" --ca "$pki/ca.crt" \
    --warmup 1 --duration "$seconds" --server-pid "$2" --url "https://127.0.0.1:$3$search" \
    --conns "$4" >"$out" || true
  [ -z "$stat_pid" ] || wait "$stat_pid" || true
  python3 - "$1" "$4" "$out" "$(cut -d' ' -f1 /proc/loadavg)" "$counts" <<'EOF'
import json, os, sys
r = json.load(open(sys.argv[3]))
line = (f"{sys.argv[1]:<14} c{sys.argv[2]:<3} cpu_us/req {r['server_cpu_us_per_req']:8.1f}  "
        f"rate {r['rate']:8.1f}  p50_us {r['p50_us']:8.1f}  errors {r['errors']}  load {sys.argv[4]}")
if os.path.exists(sys.argv[5]) and r["ok"] > 0:
    counts = {}
    for row in open(sys.argv[5]):
        cells = row.strip().split(",")
        if len(cells) > 2 and cells[0].replace(".", "").isdigit():
            counts[cells[2]] = float(cells[0])
    per = lambda key: counts[key] / r["ok"]
    if "instructions:u" in counts:  # hardware counters (absent in most VMs)
        line += (f"  kinsn/req user {per('instructions:u') / 1e3:6.0f} kernel "
                 f"{per('instructions:k') / 1e3:6.0f}")
    if "context-switches" in counts:
        line += f"  cs/req {per('context-switches'):5.1f}"
    if "syscalls:sys_enter_futex" in counts:  # a thread woken or waited for (tracepoint)
        line += f"  futex/req {per('syscalls:sys_enter_futex'):5.1f}"
    if counts.get("syscalls:sys_enter_fdatasync"):
        line += f"  req/fsync {r['ok'] / counts['syscalls:sys_enter_fdatasync']:5.1f}"
print(line)
EOF
}

# The simulated trust, with the repository's demo patients (T00 holds $nhs).
first_tb=${1#*=}
# shellcheck source=read_case.sh
source "$root/bench/fhir/read_case.sh"
write_read_trust_config "$run/trust/config.json"
"${server_cpu[@]}" "$first_tb" simulate-trust --config "$run/trust/config.json" \
  >"$run/logs/trust.log" 2>&1 &
pids+=($!)
wait_port "$trust_port"

broker_case() {  # $1 label, $2 binary, $3 conns
  local db=$run/data/$1.db
  rm -f "$db" "$db-wal" "$db-shm"
  write_read_broker_config "$run/broker-$1.json" "$db" 3000 "${LOG_LEVEL:-info}" "${IO_THREADS:-}"
  "${server_cpu[@]}" "$2" serve --config "$run/broker-$1.json" >>"$run/logs/broker-$1.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  wait_port "$broker_port"
  announce_read_patient
  local perf_pid=
  if [ "${PERF:-0}" = 1 ] && [ "$3" = 16 ] && [ ! -f "$run/perf-$1.data" ]; then
    (sleep 1 && exec perf record -g -o "$run/perf-$1.data" -p "$pid" -- sleep "$seconds") \
      >/dev/null 2>&1 &
    perf_pid=$!
  fi
  measure "$1" "$pid" "$broker_port" "$3"
  [ -z "$perf_pid" ] || wait "$perf_pid" || true
  stop "$pid"
}

nginx_master=
if [ "${NGINX:-1}" = 1 ]; then
  # shellcheck source=../nginx_mtls_proxy_conf.sh
  source "$root/bench/nginx_mtls_proxy_conf.sh"
  write_nginx_mtls_proxy_conf "$run/nginx" "$pki" "$nginx_port" "$trust_port"
  "${server_cpu[@]}" nginx -p "$run/nginx" -c "$run/nginx/nginx.conf" -g 'daemon off;' \
    >"$run/logs/nginx.log" 2>&1 &
  nginx_master=$!
  pids+=("$nginx_master")
  wait_port "$nginx_port"
fi

for round in $(seq "$rounds"); do
  echo "round $round"
  for conns in $conns_list; do
    for spec in "$@"; do broker_case "${spec%%=*}" "${spec#*=}" "$conns"; done
    if [ -n "$nginx_master" ]; then
      measure nginx "$(pgrep -P "$nginx_master" | head -1)" "$nginx_port" "$conns"
    fi
  done
done
