#!/usr/bin/env bash
# Instructions per durable MLLP message (user space, callgrind): mllp_rounds.sh's case with the
# broker under valgrind --tool=callgrind on CPU1 and tb_load on CPU0 (16 senders, 1,000 patients,
# the ADT^A01 from RA1). Counting instructions is steady on a shared machine where CPU time is
# not (docs/hl7v2-ingest.md, Performance: the same binary's CPU per message ranges over +-10%
# within minutes); it leaves out the kernel (the ACK's sendmsg, fdatasync, WAL writes), which
# the CPU time of mllp_rounds.sh includes. The counts are zeroed after 10 s of load and dumped
# 20 s later; the messages stored in that window are counted in the database. Under valgrind the
# broker is ~50x slower, so commits hold more messages than at full speed: compare binaries
# with each other here, not with mllp_rounds.sh.
# Usage: bench/load/mllp_callgrind.sh RUN_DIR TB_LOAD TRUSTBRIDGE [TRUSTBRIDGE...]
# RUN_DIR as for mllp_rounds.sh (its broker.json's ports and PKI). Prints one line per binary:
# messages in the window and instructions per message; leaves RUN_DIR/callgrind/cg-<n>.out.* for
# callgrind_annotate.
set -euo pipefail

[ $# -ge 3 ] || { sed -n 2,14p "$0" >&2; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
run=$(cd "$1" && pwd)
load=$2
shift 2
out=$run/callgrind
mkdir -p "$out"
# shellcheck source=run_dir_config.sh
source "$root/bench/load/run_dir_config.sh"
run_dir_config "$run" "$out"

# shellcheck source=../fhir/processes.sh
source "$root/bench/fhir/processes.sh"
WAIT_PORT_TENTHS=600  # valgrind starts slowly

stored() { sqlite3 -cmd '.timeout 5000' "$out/broker.db" 'SELECT COUNT(*) FROM inbound_message'; }

n=0
for tb in "$@"; do
  n=$((n + 1))
  rm -f "$out"/broker.db* "$out/cg-$n.out"*
  taskset -c 1 valgrind --tool=callgrind --callgrind-out-file="$out/cg-$n.out" \
    "$tb" serve --config "$out/broker.json" >"$out/broker-$n.log" 2>&1 &
  broker=$!
  pids+=("$broker")
  wait_port "$port_mllp"
  taskset -c 0 "$load" mllp --port "$port_mllp" --cert "$run/pki/RA1.crt" \
    --key "$run/pki/RA1.key" --ca "$run/pki/ca.crt" --msg "$root/bench/load/data/adt_a01.hl7" \
    --senders 16 --patients 1000 --warmup 1 --duration 35 >"$out/load-$n.json" &
  client=$!
  sleep 10
  callgrind_control -z "$broker" >/dev/null 2>&1
  first=$(stored)
  sleep 20
  last=$(stored)
  callgrind_control -d "$broker" >/dev/null 2>&1
  wait "$client" || true
  stop "$broker"
  dump=$(ls -t "$out/cg-$n.out".* | head -1)
  total=$(awk '/^summary:/ {print $2; exit}' "$dump")
  messages=$((last - first))
  echo "$tb: messages=$messages Ir_per_message=$((total / messages))"
done
