#!/usr/bin/env bash
# Two trustbridge nodes on one real PostgreSQL (issue 9, "done when"): starts a throwaway
# PostgreSQL (scripts/pg-test-server.sh), a dev PKI, a simulated destination trust (RXH, MLLP/TLS)
# and two `trustbridge serve` nodes whose configs differ only in broker.id. It sends half of the
# messages for RXH to each node (each patient's messages to one node, in order, as an engine's
# connection would), waits until RXH has received them, then checks that
#   - every message was acknowledged (AA),
#   - RXH's received_log holds each acknowledged message exactly once, and nothing else,
#   - each patient's messages arrived in the order they were sent,
#   - `trustbridge audit verify` passes on the shared ledger.
# Exit 0 only when all of that holds; everything it started is stopped and removed on exit.
#
#   scripts/two-node-demo.sh [--messages N] [--patients N] [--nodes N] [--keep]
#                            [--load-seconds S [--senders N]] [--delivery-threads N]
#     --messages  total messages (default 1000), split evenly over the nodes
#     --patients  distinct NHS numbers (default 50)
#     --nodes     nodes on the database (default 2; the figures in docs/scale-out.md use 1-3)
#     --keep      keep the work folder (logs, configs, received_log) and print its path
#     --load-seconds S  throughput instead of the fixed message set: bench/load's tb_load
#                 (closed loop, --senders connections in all, default 16, spread evenly over the
#                 nodes) for 2 s warm-up + S s, then the drain; checks that nothing was received
#                 twice and that the ledger verifies (per-patient order is the fixed mode's check)
#     --delivery-threads N  queue.delivery_threads of each node (default 2)
#   TB_BIN=path/to/trustbridge overrides the binary (default: build/release/trustbridge, else
#   the newest build/*/trustbridge); TB_LOAD=path/to/tb_load likewise (default: next to it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

messages=1000
patients=50
nodes=2
keep=0
load_seconds=0
senders_total=16
delivery_threads=2
while [[ $# -gt 0 ]]; do
  case $1 in
    --load-seconds) load_seconds=$2; shift 2 ;;
    --senders) senders_total=$2; shift 2 ;;
    --delivery-threads) delivery_threads=$2; shift 2 ;;
    --messages) messages=$2; shift 2 ;;
    --patients) patients=$2; shift 2 ;;
    --nodes) nodes=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "usage: $0 [--messages N] [--patients N] [--nodes N] [--keep]" \
      "[--load-seconds S [--senders N]] [--delivery-threads N]" >&2; exit 2 ;;
  esac
done
if ((nodes < 1 || patients < nodes || messages < patients)); then
  echo "need 1 <= nodes <= patients <= messages" >&2
  exit 2
fi

bin=${TB_BIN:-}
if [[ -z $bin ]]; then
  if [[ -x build/release/trustbridge ]]; then
    bin=build/release/trustbridge
  else
    bin=$(ls -t build/*/trustbridge 2>/dev/null | head -n 1 || true)
  fi
fi
if [[ -z $bin || ! -x $bin ]]; then
  echo "no trustbridge binary: build one (cmake --preset release && cmake --build --preset release" \
    "--target trustbridge) or set TB_BIN" >&2
  exit 2
fi
bin=$(realpath "$bin")
load_bin=${TB_LOAD:-$(dirname "$bin")/bench/load/tb_load}
if ((load_seconds > 0)) && [[ ! -x $load_bin ]]; then
  echo "no tb_load at $load_bin: build the tb_load target or set TB_LOAD" >&2
  exit 2
fi

work=$(mktemp -d /tmp/tb-two-node-demo-XXXXXX)
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  "$root/scripts/pg-test-server.sh" stop "$work/pg" >/dev/null 2>&1 || true
  if ((keep)); then
    echo "work folder kept: $work"
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
log() { echo "[two-node-demo] $*"; }

# The port a process logged in its start line: $1 log file, $2 the JSON key before "host:port".
logged_port() {
  local file=$1 key=$2 line
  for _ in $(seq 600); do
    line=$(grep -m1 -o "\"$key\":\"127.0.0.1:[0-9]*\"" "$file" 2>/dev/null || true)
    if [[ -n $line ]]; then
      line=${line##*:}
      echo "${line%\"}"
      return 0
    fi
    sleep 0.1
  done
  echo "no $key port in $file:" >&2
  tail -n 20 "$file" >&2
  return 1
}

log "PostgreSQL"
"$root/scripts/pg-test-server.sh" start "$work/pg" >"$work/pg.log" 2>&1 || {
  cat "$work/pg.log" >&2
  exit 1
}
url=$(cat "$work/pg/uri")

log "dev PKI"
"$root/certs/make-dev-pki.sh" --quiet "$work/pki" broker-a,RJ1,RXH >/dev/null

log "simulated trust RXH"
cat >"$work/rxh.json" <<JSON
{
  "ods": "RXH",
  "name": "RXH (simulated)",
  "listen": { "fhir": "127.0.0.1:0", "mllp": "127.0.0.1:0" },
  "tls": { "cert": "$work/pki/RXH.crt", "key": "$work/pki/RXH.key",
           "ca": "$work/pki/ca.crt", "crl": "$work/pki/ca.crl" },
  "patients": "$root/config/demo/trusts/RXH/patients",
  "received_log": "$work/rxh-received.jsonl",
  "clients": ["broker-a"]
}
JSON
"$bin" simulate-trust --config "$work/rxh.json" >"$work/rxh.log" 2>&1 &
pids+=($!)
rxh_mllp=$(logged_port "$work/rxh.log" mllp)

# One config per node: the same text except broker.id (docs/scale-out.md).
node_ports=()
for ((n = 0; n < nodes; n++)); do
  cat >"$work/node$n.json" <<JSON
{
  "broker": { "id": "node-$n", "ods": "X26" },
  "listen": { "fhir": "127.0.0.1:0", "mllp": "127.0.0.1:0" },
  "tls": { "cert": "$work/pki/broker-a.crt", "key": "$work/pki/broker-a.key",
           "ca": "$work/pki/ca.crt" },
  "store": { "url": "$url" },
  "queue": { "delivery_threads": $delivery_threads, "lease_ms": 60000 },
  "participants": [
    { "ods": "RJ1", "cert_cn": "RJ1", "scopes": ["system/*.rs"] },
    { "ods": "RXH", "cert_cn": "RXH", "scopes": ["system/*.rs"], "mllp": "127.0.0.1:$rxh_mllp" }
  ]
}
JSON
  log "node-$n"
  "$bin" serve --config "$work/node$n.json" >"$work/node$n.log" 2>&1 &
  pids+=($!)
  # One at a time: the first applies the schema migrations, the others find them applied.
  node_ports+=("$(logged_port "$work/node$n.log" mllp)")
done

if ((load_seconds > 0)); then
  # Throughput: tb_load gives every message a unique MSH-10 and cycles its senders through
  # synthetic NHS numbers; all of them are addressed to RXH.
  printf 'MSH|^~\\&|PAS|RJ1|TB|RXH|20261123120000||ADT^A08|LOAD0|P|2.4\rEVN|A08|20261123120000\rPID|1||9990000018^^^NHS^NH||LOAD^PATIENT||19800101|F\rPV1|1|I|WARD^1^1\r' \
    >"$work/load.hl7"
  per_node=$(((senders_total + nodes - 1) / nodes))
  log "tb_load: $per_node sender(s) on each of $nodes node(s), $patients patients, 2 s + ${load_seconds} s"
  start_ns=$(date +%s%N)
  loaders=()
  for ((n = 0; n < nodes; n++)); do
    "$load_bin" mllp --port "${node_ports[n]}" --cert "$work/pki/RJ1.crt" --key "$work/pki/RJ1.key" \
      --ca "$work/pki/ca.crt" --msg "$work/load.hl7" --senders "$per_node" --patients "$patients" \
      --warmup 2 --duration "$load_seconds" --server-pid "${pids[n + 1]}" >"$work/load$n.json" &
    loaders+=($!)
  done
  failed=0
  for pid in "${loaders[@]}"; do
    wait "$pid" || failed=$((failed + 1))
  done
  loaded_ns=$(date +%s%N)
  # Everything acknowledged (warm-up included) is stored; wait until RXH has it all.
  acknowledged=$(awk -F'"ok":' '{ split($2, a, ","); sum += a[1] } END { print sum }' "$work"/load*.json)
  rate=$(awk -F'"rate":' '{ split($2, a, ","); sum += a[1] } END { printf "%.0f", sum }' "$work"/load*.json)
  p99=$(awk -F'"p99_us":' '{ split($2, a, ","); if (a[1] > m) m = a[1] } END { printf "%.1f", m / 1000 }' "$work"/load*.json)
  log "ingest: $rate msg/s acknowledged in all (p99 ACK latency, worst node: $p99 ms; $failed tb_load run(s) reported errors)"
  count_received() { grep -c '"control_id"' "$work/rxh-received.jsonl" 2>/dev/null || true; }
  previous=-1
  received=$(count_received)
  while ((received != previous)); do  # drained when nothing new arrived for 3 s
    previous=$received
    sleep 3
    received=$(count_received)
  done
  drained_ns=$(date +%s%N)
  grep -o '"control_id":"[^"]*"' "$work/rxh-received.jsonl" | sort | uniq -d >"$work/duplicates.txt" || true
  ok=1
  if [[ -s $work/duplicates.txt ]]; then
    log "FAIL: $(wc -l <"$work/duplicates.txt") message(s) received more than once"
    ok=0
  fi
  if ((received < acknowledged)); then
    log "FAIL: RXH received $received, fewer than the $acknowledged counted as acknowledged"
    ok=0
  fi
  for ((n = 0; n < nodes; n++)); do
    kill "${pids[n + 1]}" 2>/dev/null || true
    wait "${pids[n + 1]}" 2>/dev/null || true
  done
  if ! "$bin" audit verify --config "$work/node0.json" >"$work/audit.txt" 2>&1; then
    log "FAIL: audit verify: $(tail -n 3 "$work/audit.txt" | tr '\n' ' ')"
    ok=0
  fi
  drain_s=$(awk -v a="$loaded_ns" -v b="$drained_ns" 'BEGIN { printf "%.1f", (b - a - 3e9) / 1e9 }')
  delivery=$(awk -v r="$received" -v a="$start_ns" -v b="$drained_ns" 'BEGIN { printf "%.0f", r / ((b - a - 3e9) / 1e9) }')
  log "$nodes node(s): ingest $rate msg/s (p99 $p99 ms); RXH received $received (>= $acknowledged acknowledged)," \
    "drained ${drain_s} s after the load: delivery $delivery msg/s from start to drained"
  ((ok)) && { log "OK"; exit 0; }
  keep=1
  exit 1
fi

# Valid test NHS numbers (999 range, modulus 11), one per patient.
nhs_numbers=()
seed=1000
while ((${#nhs_numbers[@]} < patients)); do
  digits=$(printf '999%06d' "$seed")
  seed=$((seed + 1))
  sum=0
  for ((i = 0; i < 9; i++)); do
    sum=$((sum + ${digits:i:1} * (10 - i)))
  done
  check=$(((11 - sum % 11) % 11))
  ((check == 10)) && continue
  nhs_numbers+=("$digits$check")
done

# Node n gets the patients p with p % nodes == n, so each node gets 1/nodes of the messages and
# each patient's messages go through one connection in order. Control id: D<patient>-<seq>.
per_patient=$((messages / patients))
total=$((per_patient * patients))
for ((n = 0; n < nodes; n++)); do
  : >"$work/send$n.hl7"
done
for ((s = 0; s < per_patient; s++)); do
  for ((p = 0; p < patients; p++)); do
    printf 'MSH|^~\\&|PAS|RJ1|TB|RXH|20261123120000||ADT^A08|D%d-%d|P|2.4\rEVN|A08|20261123120000\rPID|1||%s^^^NHS^NH||DEMO^PATIENT%d||19800101|F\rPV1|1|I|WARD^%d^1\r\n' \
      "$p" "$s" "${nhs_numbers[p]}" "$p" "$s" >>"$work/send$((p % nodes)).hl7"
  done
done

log "sending $total messages for RXH: $((total / nodes)) to each of $nodes node(s)"
start_ns=$(date +%s%N)
senders=()
for ((n = 0; n < nodes; n++)); do
  "$bin" send-hl7 --to "127.0.0.1:${node_ports[n]}" --cert "$work/pki/RJ1.crt" \
    --key "$work/pki/RJ1.key" --ca "$work/pki/ca.crt" "$work/send$n.hl7" >"$work/acks$n.txt" 2>&1 &
  senders+=($!)
done
failed_senders=0
for pid in "${senders[@]}"; do
  wait "$pid" || failed_senders=$((failed_senders + 1))
done
acked_ns=$(date +%s%N)
cat "$work"/acks*.txt | grep -o '^MSA|AA|D[0-9]*-[0-9]*' | cut -d'|' -f3 | sort >"$work/acknowledged.txt"
acknowledged=$(wc -l <"$work/acknowledged.txt")
log "acknowledged $acknowledged of $total ($failed_senders sender(s) saw a non-AA answer)"

log "waiting for RXH to receive them"
received=0
for _ in $(seq 1200); do
  received=$(grep -c '"control_id":"D' "$work/rxh-received.jsonl" 2>/dev/null || true)
  ((received >= acknowledged)) && break
  sleep 0.1
done
delivered_ns=$(date +%s%N)
sleep 1  # a late duplicate would show up now
grep -o '"control_id":"D[0-9]*-[0-9]*"' "$work/rxh-received.jsonl" | cut -d'"' -f4 \
  >"$work/received.txt" || true

ok=1
if ((acknowledged != total)); then
  log "FAIL: $((total - acknowledged)) message(s) not acknowledged"
  ok=0
fi
sort "$work/received.txt" | uniq -d >"$work/duplicates.txt"
if [[ -s $work/duplicates.txt ]]; then
  log "FAIL: received more than once: $(head -n 5 "$work/duplicates.txt" | tr '\n' ' ')"
  ok=0
fi
if ! sort -u "$work/received.txt" | cmp -s - "$work/acknowledged.txt"; then
  log "FAIL: received != acknowledged (missing: $(sort -u "$work/received.txt" |
    comm -13 - "$work/acknowledged.txt" | head -n 5 | tr '\n' ' '))"
  ok=0
fi
# Per patient, the sequence numbers must arrive as 0, 1, 2, ...
if ! awk -F- '{ p = substr($1, 2); if ($2 != next_seq[p] + 0) { bad = 1; print "out of order: " $0 }
               next_seq[p] = $2 + 1 } END { exit bad }' "$work/received.txt" >"$work/order.txt"; then
  log "FAIL: $(head -n 3 "$work/order.txt" | tr '\n' ' ')"
  ok=0
fi

log "stopping the nodes, then trustbridge audit verify on the shared ledger"
for ((n = 0; n < nodes; n++)); do
  kill "${pids[n + 1]}" 2>/dev/null || true
  wait "${pids[n + 1]}" 2>/dev/null || true
done
if "$bin" audit verify --config "$work/node0.json" >"$work/audit.txt" 2>&1; then
  log "audit verify: $(tail -n 1 "$work/audit.txt")"
else
  log "FAIL: audit verify: $(tail -n 3 "$work/audit.txt" | tr '\n' ' ')"
  ok=0
fi

ms() { echo $((($1 - start_ns) / 1000000)); }
ack_ms=$(ms "$acked_ns")
delivered_ms=$(ms "$delivered_ns")
log "$nodes node(s): $acknowledged acknowledged in ${ack_ms} ms ($((acknowledged * 1000 / (ack_ms > 0 ? ack_ms : 1))) msg/s)," \
  "all received by RXH after ${delivered_ms} ms ($((received * 1000 / (delivered_ms > 0 ? delivered_ms : 1))) msg/s end to end)"
if ((ok)); then
  log "OK: every acknowledged message delivered exactly once, in per-patient order; the ledger verifies"
  exit 0
fi
keep=1
exit 1
