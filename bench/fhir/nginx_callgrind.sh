#!/usr/bin/env bash
# Instructions per request of the nginx mTLS reverse proxy (user space, callgrind): the peer of
# read_callgrind.sh, on the same read (the simulated trust T00, tb_load at 4 keep-alive
# connections), so that the two counts compare steadily where CPU time on a shared machine does
# not. nginx runs as one process (no master) under valgrind; requests in the 20 s window are
# counted from a one-field access log, which the CPU-time benchmark's nginx does not keep (its
# cost is inside this count).
# Usage: bench/fhir/nginx_callgrind.sh RUN_DIR TB_LOAD TRUSTBRIDGE
# Env:   CONNS (default 4), PORT_BASE (default 48640).
# Prints: nginx requests=N Ir_per_req=I, and leaves RUN_DIR/cg-nginx.out.* for callgrind_annotate.
set -euo pipefail

[ $# -ge 3 ] || { sed -n 2,10p "$0" >&2; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
run=$(cd "$1" && pwd)
load=$2
tb=$3
port_base=${PORT_BASE:-48640}
trust_port=$((port_base + 1))
nginx_port=$((port_base + 2))
mkdir -p "$run"/{logs,trust}
pki=$run/pki
[ -f "$pki/nginx.crt" ] || "$root/certs/make-dev-pki.sh" --quiet "$pki" "broker-a,RJ1,admin,nginx,T00"
nhs=9990001448
search="/fhir/Patient?identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C$nhs"

# shellcheck source=processes.sh
source "$root/bench/fhir/processes.sh"
WAIT_PORT_TENTHS=600  # valgrind starts slowly
# shellcheck source=read_case.sh
source "$root/bench/fhir/read_case.sh"
# shellcheck source=../nginx_mtls_proxy_conf.sh
source "$root/bench/nginx_mtls_proxy_conf.sh"

write_read_trust_config "$run/trust/config.json"
taskset -c 1 "$tb" simulate-trust --config "$run/trust/config.json" >"$run/logs/trust.log" 2>&1 &
pids+=($!)
wait_port "$trust_port"

# The benchmark's proxy, as one process, logging one short line per request to count them.
write_nginx_mtls_proxy_conf "$run/nginx" "$pki" "$nginx_port" "$trust_port"
access_log=$run/nginx/logs/access.log
sed -i -e 's|^worker_processes 1;|worker_processes 1;\nmaster_process off;|' \
  -e "s|access_log off;|log_format counted \"\$status\"; access_log $access_log counted;|" \
  "$run/nginx/nginx.conf"
: >"$access_log"
rm -f "$run"/cg-nginx.out*
taskset -c 1 valgrind --tool=callgrind --callgrind-out-file="$run/cg-nginx.out" \
  nginx -p "$run/nginx" -c "$run/nginx/nginx.conf" -g 'daemon off;' >"$run/logs/nginx.log" 2>&1 &
nginx=$!
pids+=("$nginx")
wait_port "$nginx_port"

taskset -c 0 "$load" https --cert "$pki/RJ1.crt" --key "$pki/RJ1.key" --ca "$pki/ca.crt" \
  --warmup 1 --duration 40 --url "https://127.0.0.1:$nginx_port$search" --conns "${CONNS:-4}" \
  >"$run/load-nginx.json" &
client=$!
sleep 10
callgrind_control -z "$nginx" >/dev/null 2>&1
first=$(wc -l <"$access_log")
sleep 20
last=$(wc -l <"$access_log")
callgrind_control -d "$nginx" >/dev/null 2>&1
wait "$client" || true
dump=$(ls -t "$run"/cg-nginx.out.* | head -1)
total=$(awk '/^summary:/ {print $2; exit}' "$dump")
requests=$((last - first))
echo "nginx requests=$requests Ir_per_req=$((total / requests))"
