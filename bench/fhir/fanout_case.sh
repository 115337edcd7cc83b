# shellcheck shell=bash
# Sourced by bench/fhir/fanout.sh and bench/fhir/fanout_callgrind.sh: scripts/bench.sh's case (c),
# ten simulated trusts T01-T10 answering in 20 ms (the demo patients) behind a broker whose record
# locator says T01 holds one patient, T01-T03 a second and T01-T10 a third, so both scripts
# measure the same federated searches.
# Needs: root, run, pki, broker_port set by the caller; trust T01 listens on broker_port + 11.

fanout_trusts=(T01 T02 T03 T04 T05 T06 T07 T08 T09 T10)
fanout_nhs1=9990001235   # T01
fanout_nhs3=9990001308   # T01-T03
fanout_nhs10=9990001375  # T01-T10

# fanout_trust_port NAME
fanout_trust_port() { echo $((broker_port + 10 + 10#${1#T})); }

# fanout_search NHS: the search's origin-form target
fanout_search() { echo "/fhir/Patient?identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C$1"; }

# fanout_make_pki: the run dir's PKI, made when absent (scripts/bench.sh's names are a superset).
fanout_make_pki() {
  [ -f "$pki/ca.crt" ] && [ -f "$pki/T10.crt" ] && return 0
  "$root/certs/make-dev-pki.sh" --quiet "$pki" \
    "broker-a,RJ1,admin,$(IFS=,; echo "${fanout_trusts[*]}")"
}

# write_fanout_trust_config FILE NAME: log level $TRUST_LOG_LEVEL (default warn: the trusts share
# the broker's CPU, and their per-request access lines are not what is measured; set but empty:
# no log_level key, for binaries older than d8ddc14, which refuse it).
write_fanout_trust_config() {
  local log_level=
  [ -z "${TRUST_LOG_LEVEL-warn}" ] || log_level=", \"log_level\": \"${TRUST_LOG_LEVEL-warn}\""
  cat >"$1" <<EOF_CONF
{ "ods": "$2", "listen": { "fhir": "127.0.0.1:$(fanout_trust_port "$2")" },
  "tls": { "cert": "$pki/$2.crt", "key": "$pki/$2.key", "ca": "$pki/ca.crt" },
  "patients": "$root/config/demo/trusts/RGT/patients", "latency_ms": 20, "io_threads": 1$log_level }
EOF_CONF
}

# write_fanout_broker_config FILE DB LOG_LEVEL: federation.max_idle_per_trust from
# $MAX_IDLE_PER_TRUST when set (e.g. 1 with 4 connections: most upstream requests then open a
# new connection, which shows what a handshake costs).
write_fanout_broker_config() {
  local max_idle=
  [ -z "${MAX_IDLE_PER_TRUST:-}" ] || max_idle=", \"max_idle_per_trust\": $MAX_IDLE_PER_TRUST"
  local participants="" name
  for name in "${fanout_trusts[@]}"; do
    participants+=",
    { \"ods\": \"$name\", \"cert_cn\": \"$name\",
      \"fhir_base\": \"https://127.0.0.1:$(fanout_trust_port "$name")/fhir\",
      \"scopes\": [\"system/*.rs\"], \"purposes\": [\"TREAT\"] }"
  done
  cat >"$1" <<EOF_CONF
{ "broker": { "id": "bench-broker", "ods": "X26" },
  "listen": { "fhir": "127.0.0.1:$broker_port" },
  "tls": { "cert": "$pki/broker-a.crt", "key": "$pki/broker-a.key", "ca": "$pki/ca.crt",
           "crl": "$pki/ca.crl" },
  "store": { "url": "sqlite:$2" },
  "participants": [
    { "ods": "RJ1", "cert_cn": "RJ1", "scopes": ["system/Patient.rs", "system/Observation.rs"],
      "purposes": ["TREAT"] }$participants
  ],
  "admin": { "cert_cns": ["admin"] },
  "federation": { "deadline_ms": 3000$max_idle },
  "log": { "level": "$3" }
}
EOF_CONF
}

# announce_fanout_patients: tells the running broker's record locator who holds what.
announce_fanout_patients() {
  local name
  fanout_announce "$fanout_nhs1" T01
  for name in T01 T02 T03; do fanout_announce "$fanout_nhs3" "$name"; done
  for name in "${fanout_trusts[@]}"; do fanout_announce "$fanout_nhs10" "$name"; done
}
fanout_announce() {  # NHS ODS
  curl -sf --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    -H 'Content-Type: application/json' -d "{\"nhs_number\":\"$1\",\"ods\":\"$2\"}" \
    "https://127.0.0.1:$broker_port/admin/locator" >/dev/null
}
