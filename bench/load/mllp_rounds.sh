#!/usr/bin/env bash
# MLLP/TLS ingest rounds for before/after comparisons (docs/hl7v2-ingest.md, Performance): each
# round starts `trustbridge serve` on a fresh SQLite file pinned to CPU1, drives it for 5 s
# (after a 1 s warm-up) with tb_load pinned to CPU0 (16 senders, 1,000 patients, the ADT^A01 from
# RA1) and prints one line: rate, p50/p99 ACK latency, server CPU per message, load average.
# Give two binaries to alternate them round by round, so both see the same minutes of a shared
# machine. Reuses the PKI and broker config of a finished scripts/bench.sh run (RUN_DIR).
# SERVER_CPUS / CLIENT_CPUS (taskset lists, default 1 / 0) move the broker and the load; e.g.
# SERVER_CPUS=0,1 CLIENT_CPUS=0,1 lets both use the whole machine.
# Usage: bench/load/mllp_rounds.sh RUN_DIR TB_LOAD [full|off] ROUNDS TRUSTBRIDGE [TRUSTBRIDGE...]
set -euo pipefail

run=$(cd "${1:?usage: mllp_rounds.sh RUN_DIR TB_LOAD [full|off] ROUNDS TRUSTBRIDGE...}" && pwd)
load=$2
durability=${3:-full}
rounds=${4:-3}
shift 4
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$run/rounds
mkdir -p "$out"
port_fhir=$(sed -n 's/.*"fhir": "127.0.0.1:\([0-9]*\)".*/\1/p' "$run/broker.json" | head -1)
port_mllp=$((port_fhir + 1))
# The store goes to RUN_DIR/rounds whatever folder broker.json names (a copied RUN_DIR must not
# write into the run it was copied from).
sed -e "s#\"url\": \"sqlite:[^\"]*\"#\"url\": \"sqlite:$out/broker.db\", \"durability\": \"$durability\"#" \
  "$run/broker.json" >"$out/broker.json"

for round in $(seq "$rounds"); do
  for tb in "$@"; do
    rm -f "$out"/broker.db*
    taskset -c "${SERVER_CPUS:-1}" "$tb" serve --config "$out/broker.json" >"$out/broker.log" 2>&1 &
    broker=$!
    for _ in $(seq 200); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port_mllp") 2>/dev/null && break
      sleep 0.1
    done
    taskset -c "${CLIENT_CPUS:-0}" "$load" mllp --port "$port_mllp" --cert "$run/pki/RA1.crt" \
      --key "$run/pki/RA1.key" --ca "$run/pki/ca.crt" --msg "$root/bench/load/data/adt_a01.hl7" \
      --senders 16 --patients 1000 --warmup 1 --duration 5 --server-pid "$broker" \
      >"$out/load.json" || true
    kill "$broker"
    wait "$broker" 2>/dev/null || true
    python3 - "$out/load.json" "$tb" "$durability" "$round" <<'PY'
import json, os, sys
d = json.load(open(sys.argv[1]))
print("round %s %-4s %s: %6.0f msgs/s  p50 %5.1f ms  p99 %5.1f ms  %4.0f us CPU/msg  errors %d"
      "  load %.1f" % (sys.argv[4], sys.argv[3], sys.argv[2], d["rate"], d["p50_us"] / 1e3,
                       d["p99_us"] / 1e3, d["server_cpu_us_per_req"], d["errors"],
                       os.getloadavg()[0]))
PY
  done
done
