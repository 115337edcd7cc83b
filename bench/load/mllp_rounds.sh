#!/usr/bin/env bash
# MLLP/TLS ingest rounds for before/after comparisons (docs/hl7v2-ingest.md, Performance): each
# round starts `trustbridge serve` on a fresh SQLite file pinned to CPU1, drives it for 5 s
# (after a 1 s warm-up) with tb_load pinned to CPU0 (16 senders, 1,000 patients, the ADT^A01 from
# RA1) and prints one line: rate, p50/p99 ACK latency, server CPU, bytes written to storage and
# context switches per message, load average; before it, the conditions of that moment (fsync
# latency, the host's CPU speed), and at the end the median and range per binary.
# Give two binaries to alternate them round by round, so both see the same minutes of a shared
# machine. Reuses the PKI and broker config of a finished scripts/bench.sh run (RUN_DIR).
# SERVER_CPUS / CLIENT_CPUS (taskset lists, default 1 / 0) move the broker and the load; e.g.
# SERVER_CPUS=0,1 CLIENT_CPUS=0,1 lets both use the whole machine; SENDERS (default 16) sets the
# sender connections. SYSCALLS=1 (needs perf) also
# prints ACKs per fdatasync, i.e. messages per commit.
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
# shellcheck source=run_dir_config.sh
source "$root/bench/load/run_dir_config.sh"
run_dir_config "$run" "$out" ", \"durability\": \"$durability\""

# The conditions a round's figures depend on besides the binary, printed before each round: the
# disk (a 4 KiB pwrite + fdatasync loop in RUN_DIR: the durable rate is bound by it), the CPU (a
# fixed pure-Python loop on the broker's CPUs: a shared host's cores do the same work slower at
# some hours, and the broker's CPU per message with them) and the load average.
conditions() {
  taskset -c "${SERVER_CPUS:-1}" python3 - "$out/probe.bin" <<'PY'
import json, os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o600); t = []
for i in range(200):
    s = time.perf_counter(); os.pwrite(fd, b"x" * 4096, (i % 64) * 4096); os.fdatasync(fd)
    t.append(time.perf_counter() - s)
os.close(fd); os.unlink(sys.argv[1]); t.sort()
c = time.process_time(); x = 0
for i in range(2000000): x += i
c = {"fsync_p50_us": t[100] * 1e6, "fsync_p99_us": t[198] * 1e6,
     "cpu_loop_ms": (time.process_time() - c) * 1e3, "load": os.getloadavg()[0]}
print("conditions: fsync p50 %(fsync_p50_us)4.0f us p99 %(fsync_p99_us)5.0f us  cpu loop"
      " %(cpu_loop_ms)3.0f ms  load %(load).1f" % c)
open(sys.argv[1] + ".json", "w").write(json.dumps(c))
PY
}

rm -f "$out/rounds.jsonl"
for round in $(seq "$rounds"); do
  for tb in "$@"; do
    conditions
    rm -f "$out"/broker.db*
    taskset -c "${SERVER_CPUS:-1}" "$tb" serve --config "$out/broker.json" >"$out/broker.log" 2>&1 &
    broker=$!
    for _ in $(seq 200); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port_mllp") 2>/dev/null && break
      sleep 0.1
    done
    syscalls=
    if [ -n "${SYSCALLS:-}" ]; then  # messages per commit: count fdatasync over the measured window
      (sleep 1 && exec perf stat -x, -o "$out/syscalls.csv" -p "$broker" \
        -e 'syscalls:sys_enter_fdatasync,syscalls:sys_enter_sendmsg' -- sleep 5) >/dev/null 2>&1 &
      syscalls=$!
    fi
    taskset -c "${CLIENT_CPUS:-0}" "$load" mllp --port "$port_mllp" --cert "$run/pki/RA1.crt" \
      --key "$run/pki/RA1.key" --ca "$run/pki/ca.crt" --msg "$root/bench/load/data/adt_a01.hl7" \
      --senders "${SENDERS:-16}" --patients 1000 --warmup 1 --duration 5 --server-pid "$broker" \
      >"$out/load.json" || true
    [ -n "$syscalls" ] && { wait "$syscalls" || true; }
    kill "$broker"
    wait "$broker" 2>/dev/null || true
    python3 - "$out/load.json" "$tb" "$durability" "$round" "$out/syscalls.csv" \
      "$out/probe.bin.json" "$out/rounds.jsonl" <<'PY'
import json, os, sys
d = json.load(open(sys.argv[1]))
d.update(json.load(open(sys.argv[6])), binary=sys.argv[2], round=int(sys.argv[4]))
open(sys.argv[7], "a").write(json.dumps(d) + "\n")
print("round %s %-4s %s: %6.0f msgs/s  p50 %5.1f ms  p99 %5.1f ms  %4.0f us CPU/msg  %4.1f KiB"
      " written/msg  %4.2f cs/msg  errors %d  load %.1f"
      % (sys.argv[4], sys.argv[3], sys.argv[2], d["rate"], d["p50_us"] / 1e3, d["p99_us"] / 1e3,
         d["server_cpu_us_per_req"], d.get("server_write_bytes_per_req", 0) / 1024,
         d.get("server_ctxsw_per_req", 0), d["errors"], os.getloadavg()[0]))
calls = {}
if os.environ.get("SYSCALLS") and os.path.exists(sys.argv[5]):
    for line in open(sys.argv[5]):
        f = line.split(",")
        if len(f) > 2 and f[0].isdigit():
            calls[f[2].split("_")[-1]] = int(f[0])
    os.unlink(sys.argv[5])
    if calls.get("fdatasync"):
        print("        %.1f ACKs (sendmsg) per fdatasync" % (calls.get("sendmsg", 0) / calls["fdatasync"]))
PY
  done
done

# Per binary: the median and range over its rounds. Compare binaries by these, from alternated
# rounds, and only when the cpu loop (the host's speed) and fsync p50 were alike for both.
python3 - "$out/rounds.jsonl" <<'PY'
import json, statistics, sys
rounds = [json.loads(line) for line in open(sys.argv[1])]
def spread(rows, key, scale=1.0, form="%.0f"):
    v = sorted(r.get(key, 0) * scale for r in rows)
    return (form + " (" + form + "-" + form + ")") % (statistics.median(v), v[0], v[-1])
print("summary: median (min-max) over the rounds of each binary")
for binary in dict.fromkeys(r["binary"] for r in rounds):
    rows = [r for r in rounds if r["binary"] == binary]
    print("  %s\n    %s msgs/s  p99 %s ms  %s us CPU/msg  %s KiB written/msg\n"
          "    conditions: cpu loop %s ms  fsync p50 %s us" % (
              binary, spread(rows, "rate"), spread(rows, "p99_us", 1e-3, "%.1f"),
              spread(rows, "server_cpu_us_per_req"),
              spread(rows, "server_write_bytes_per_req", 1 / 1024, "%.1f"),
              spread(rows, "cpu_loop_ms"), spread(rows, "fsync_p50_us")))
PY
