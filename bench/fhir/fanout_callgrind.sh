#!/usr/bin/env bash
# Broker instructions per federated search over N trusts (user space, callgrind): fanout.sh's case
# with the broker under valgrind --tool=callgrind, so the figure is steady on a shared machine
# (it leaves out the kernel: syscalls, context switches). The counters are zeroed once the load
# has run for a while and dumped 20 s later; requests in that window are counted from the
# broker's http_request log lines, so the figure is the whole process's instructions per request.
# Usage: bench/fhir/fanout_callgrind.sh RUN_DIR TB_LOAD TRUSTBRIDGE [LABEL]
# Env:   TRUSTS (1, 3 or 10; default 10), CONNS (default 1), PORT_BASE (default 48730),
#        MAX_IDLE_PER_TRUST (federation.max_idle_per_trust; default: the config default),
#        TRUST_TB (the binary that runs the simulated trusts; default TRUSTBRIDGE).
# Prints: LABEL trusts=N requests=R Ir_per_req=I, and leaves RUN_DIR/cg-fanout-LABEL.out.* for
# callgrind_annotate.
set -euo pipefail

[ $# -ge 3 ] || { sed -n 2,12p "$0" >&2; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$1"
run=$(cd "$1" && pwd)  # absolute: the configs written below name files in it
load=$2
tb=$3
label=${4:-broker}
trusts=${TRUSTS:-10}
broker_port=${PORT_BASE:-48730}
pki=$run/pki
mkdir -p "$run"/{logs,data,trusts}
# shellcheck source=fanout_case.sh
source "$root/bench/fhir/fanout_case.sh"
fanout_make_pki
case $trusts in 1 | 3 | 10) ;; *) echo "TRUSTS must be 1, 3 or 10" >&2; exit 2 ;; esac
nhs_var=fanout_nhs$trusts

# shellcheck source=processes.sh
source "$root/bench/fhir/processes.sh"
# shellcheck source=callgrind.sh
source "$root/bench/fhir/callgrind.sh"
WAIT_PORT_TENTHS=600  # valgrind starts slowly

for name in "${fanout_trusts[@]}"; do
  mkdir -p "$run/trusts/cg-$name"
  write_fanout_trust_config "$run/trusts/cg-$name/config.json" "$name"
  taskset -c 1 "${TRUST_TB:-$tb}" simulate-trust --config "$run/trusts/cg-$name/config.json" \
    >>"$run/logs/cg-trust-$name.log" 2>&1 &
  pids+=($!)
done
for name in "${fanout_trusts[@]}"; do wait_port "$(fanout_trust_port "$name")"; done

db=$run/data/cg-fanout-$label.db
rm -f "$db" "$db-wal" "$db-shm"
write_fanout_broker_config "$run/cg-fanout-broker-$label.json" "$db" info
log=$run/logs/cg-fanout-broker-$label.log
callgrind_serve "$tb" "$run/cg-fanout-broker-$label.json" "$log" "$run/cg-fanout-$label"
wait_port "$broker_port"
announce_fanout_patients
taskset -c 0 "$load" https --cert "$pki/RJ1.crt" --key "$pki/RJ1.key" --ca "$pki/ca.crt" \
  --warmup 1 --duration 40 --url "https://127.0.0.1:$broker_port$(fanout_search "${!nhs_var}")" \
  --conns "${CONNS:-1}" >"$run/cg-fanout-load-$label.json" &
client=$!
callgrind_window "$broker" "$log" "$run/cg-fanout-$label"
wait "$client" || true
echo "$label trusts=$trusts requests=$requests Ir_per_req=$per_req" \
  "Ir_per_req_without_delivery_poll=$per_req_busy"
