#!/usr/bin/env bash
# Where the broker's time goes under MLLP/TLS ingest (docs/benchmarks.md, "Where ingest time
# goes"). Reuses the PKI, broker config and Release binaries of a finished scripts/bench.sh run;
# starts one broker on a fresh SQLite file, drives it with tb_load (16 senders, 1,000 patients,
# the ADT^A01) and, while the load runs:
#   - counts fsync/fdatasync/write/sendmsg system calls of the broker (perf stat tracepoints), so
#     fsyncs per acknowledged message can be read off;
#   - samples the broker's threads (perf record, DWARF call graphs) and keeps the inclusive share
#     of each tb:: / Poco / SQLite / OpenSSL function.
# Writes RUN/profile/<durability>/{load.json,syscalls.txt,children.txt}. Needs perf (linux-perf);
# without it only load.json is written. Server on CPU1, load client on CPU0, as in bench.sh.
# Usage: bench/profile_mllp_ingest.sh RUN_DIR [full|off] [SECONDS]
set -euo pipefail

run=$(cd "${1:?usage: bench/profile_mllp_ingest.sh RUN_DIR [full|off] [SECONDS]}" && pwd)
durability=${2:-full}
seconds=${3:-6}
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(dirname "$run")
out=$run/profile/$durability
mkdir -p "$out"
port_fhir=$(sed -n 's/.*"fhir": "127.0.0.1:\([0-9]*\)".*/\1/p' "$run/broker.json" | head -1)
port_mllp=$((port_fhir + 1))

# The bench config with its own database file and the durability asked for.
sed -e "s#data/broker.db\"#profile/$durability/broker.db\", \"durability\": \"$durability\"#" \
  "$run/broker.json" >"$out/broker.json"
taskset -c 1 "$build/trustbridge" serve --config "$out/broker.json" >"$out/broker.log" 2>&1 &
broker=$!
trap 'kill "$broker" 2>/dev/null || true; wait "$broker" 2>/dev/null || true' EXIT
for _ in $(seq 200); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port_mllp") 2>/dev/null && break
  sleep 0.1
done

taskset -c 0 "$build/bench/load/tb_load" mllp --port "$port_mllp" --cert "$run/pki/RA1.crt" \
  --key "$run/pki/RA1.key" --ca "$run/pki/ca.crt" --msg "$root/bench/load/data/adt_a01.hl7" \
  --senders 16 --patients 1000 --warmup 1 --duration $((2 * seconds + 2)) \
  --server-pid "$broker" >"$out/load.json" &
load=$!
sleep 2
if command -v perf >/dev/null; then
  perf stat -x, -o "$out/syscalls.txt" -p "$broker" \
    -e 'syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync,syscalls:sys_enter_pwrite64' \
    -e 'syscalls:sys_enter_write,syscalls:sys_enter_sendmsg,syscalls:sys_enter_futex' \
    -- sleep "$seconds"
  perf record -q -o "$out/perf.data" -F 499 --call-graph dwarf,16384 -p "$broker" \
    -- sleep "$seconds" 2>/dev/null
fi
wait "$load" || true
kill "$broker"
wait "$broker" 2>/dev/null || true
trap - EXIT
if [ -f "$out/perf.data" ]; then
  perf report -i "$out/perf.data" --children --sort symbol --stdio -g none 2>/dev/null |
    grep '%' | grep -v '^#' | grep -E 'tb::|Poco::|sqlite3|SSL|fdatasync|ext4_sync' |
    cut -c1-200 | head -60 >"$out/children.txt"
  rm -f "$out/perf.data"  # 10+ MB; children.txt is what the docs quote
fi
echo "profile: $out" >&2
