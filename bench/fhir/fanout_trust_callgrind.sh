#!/usr/bin/env bash
# Instructions per search of one simulated trust (user space, callgrind): trust T01 of fanout.sh's
# case under valgrind --tool=callgrind, queried directly by tb_load over 4 keep-alive mutual-TLS
# connections with the 10-trust patient's search. The trusts share the broker's CPU in fanout.sh,
# so what one costs per search shows in the federated latency (docs/simulate-trust.md).
# The counts are zeroed after a warm-up (tb_load's connections' handshakes, ~12M instructions
# each, fall in it) and dumped 10 s later; the requests in that window are counted from the
# trust's http_request lines, so the trust logs at info here (at warn, as in fanout.sh, a search
# costs ~5k instructions less: no access line).
# Usage: bench/fhir/fanout_trust_callgrind.sh RUN_DIR TB_LOAD TRUSTBRIDGE [LABEL]
# Env:   PORT_BASE (default 48745; the trust listens on PORT_BASE + 11), CONNS (default 4).
# Prints: LABEL requests=R Ir_per_req=I, and leaves RUN_DIR/cg-trust-LABEL.out.* for
# callgrind_annotate.
set -euo pipefail

[ $# -ge 3 ] || { sed -n 2,11p "$0" >&2; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$1"
run=$(cd "$1" && pwd)  # absolute: the config written below names files in it
load=$2
tb=$3
label=${4:-trust}
broker_port=${PORT_BASE:-48745}
pki=$run/pki
mkdir -p "$run"/{logs,trusts}
# shellcheck source=fanout_case.sh
source "$root/bench/fhir/fanout_case.sh"
fanout_make_pki
# shellcheck source=processes.sh
source "$root/bench/fhir/processes.sh"
WAIT_PORT_TENTHS=600  # valgrind starts slowly

mkdir -p "$run/trusts/cg-trust-$label"
TRUST_LOG_LEVEL=info write_fanout_trust_config "$run/trusts/cg-trust-$label/config.json" T01
log=$run/logs/cg-trust-$label.log
: >"$log"
out=$run/cg-trust-$label
rm -f "$out".out*
taskset -c 1 valgrind --tool=callgrind --callgrind-out-file="$out.out" \
  "$tb" simulate-trust --config "$run/trusts/cg-trust-$label/config.json" >>"$log" 2>&1 &
trust=$!
pids+=("$trust")
port=$(fanout_trust_port T01)
wait_port "$port"
taskset -c 0 "$load" https --cert "$pki/RJ1.crt" --key "$pki/RJ1.key" --ca "$pki/ca.crt" \
  --warmup 1 --duration 25 --conns "${CONNS:-4}" \
  --url "https://127.0.0.1:$port$(fanout_search "$fanout_nhs10")" >"$out-load.json" &
client=$!
sleep 8
callgrind_control -z "$trust" >/dev/null 2>&1
first=$(grep -c '"http_request"' "$log")
sleep 10
last=$(grep -c '"http_request"' "$log")
callgrind_control -d "$trust" >/dev/null 2>&1
wait "$client" || true
dump=$(ls -t "$out".out.* | head -1)
total=$(awk '/^summary:/ {print $2; exit}' "$dump")
requests=$((last - first))
echo "$label requests=$requests Ir_per_req=$((total / requests))"
