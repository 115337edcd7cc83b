#!/usr/bin/env bash
# Instructions per pass-through FHIR read (user space, callgrind): read_passthrough.sh's case (a)
# with the broker under valgrind --tool=callgrind. Counting instructions is steady on a shared
# machine where CPU time is not; it leaves out the kernel (syscalls, context switches, fsync),
# which read_passthrough.sh's CPU time includes. The counters are zeroed once the load has run
# for a while and dumped 20 s later; requests in that window are counted from the broker's
# http_request log lines, so the figure is the whole process's instructions per request.
# Usage: bench/fhir/read_callgrind.sh RUN_DIR TB_LOAD TRUSTBRIDGE [LABEL]
# Env:   CONNS (default 4; valgrind runs the broker ~50x slower), PORT_BASE (default 48620).
# Prints: LABEL requests=N Ir_per_req=I Ir_per_req_without_delivery_poll=J, and leaves
# RUN_DIR/cg-LABEL.out.* for callgrind_annotate.
set -euo pipefail

[ $# -ge 3 ] || { sed -n 2,10p "$0" >&2; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
run=$(cd "$1" && pwd)  # absolute: the configs written below name files in it
load=$2
tb=$3
label=${4:-broker}
port_base=${PORT_BASE:-48620}
broker_port=$port_base
trust_port=$((port_base + 1))
mkdir -p "$run"/{logs,data,trust}
pki=$run/pki
[ -f "$pki/ca.crt" ] || "$root/certs/make-dev-pki.sh" --quiet "$pki" "broker-a,RJ1,admin,T00"
nhs=9990001448
search="/fhir/Patient?identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C$nhs"

# shellcheck source=processes.sh
source "$root/bench/fhir/processes.sh"
# shellcheck source=callgrind.sh
source "$root/bench/fhir/callgrind.sh"
WAIT_PORT_TENTHS=600  # valgrind starts slowly

# shellcheck source=read_case.sh
source "$root/bench/fhir/read_case.sh"
write_read_trust_config "$run/trust/config.json"
taskset -c 1 "$tb" simulate-trust --config "$run/trust/config.json" >"$run/logs/trust.log" 2>&1 &
pids+=($!)
wait_port "$trust_port"

db=$run/data/$label.db
rm -f "$db" "$db-wal" "$db-shm"
write_read_broker_config "$run/broker-$label.json" "$db" 10000 info
log=$run/logs/broker-$label.log
callgrind_serve "$tb" "$run/broker-$label.json" "$log" "$run/cg-$label"
wait_port "$broker_port"
announce_read_patient
taskset -c 0 "$load" https --cert "$pki/RJ1.crt" --key "$pki/RJ1.key" --ca "$pki/ca.crt" \
  --warmup 1 --duration 40 --url "https://127.0.0.1:$broker_port$search" --conns "${CONNS:-4}" \
  >"$run/load-$label.json" &
client=$!
callgrind_window "$broker" "$log" "$run/cg-$label"
wait "$client" || true
echo "$label requests=$requests Ir_per_req=$per_req Ir_per_req_without_delivery_poll=$per_req_busy"
