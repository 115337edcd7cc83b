# Sourced by bench/fhir/read_passthrough.sh and bench/fhir/read_callgrind.sh: scripts/bench.sh's
# case (a), one simulated trust T00 (the demo patients, answering at once) behind a broker whose
# record locator says T00 holds the patient, so both scripts measure the same read.
# Needs: root, run, pki, broker_port, trust_port, nhs set by the caller.

# write_read_trust_config FILE
write_read_trust_config() {
  cat >"$1" <<EOF_CONF
{ "ods": "T00", "listen": { "fhir": "127.0.0.1:$trust_port" },
  "tls": { "cert": "$pki/T00.crt", "key": "$pki/T00.key", "ca": "$pki/ca.crt" },
  "patients": "$root/config/demo/trusts/RGT/patients", "latency_ms": 0, "io_threads": 1 }
EOF_CONF
}

# write_read_broker_config FILE DB DEADLINE_MS LOG_LEVEL [IO_THREADS]
# (env DURABILITY: the store's durability, e.g. "off"; default the shipped default, full)
write_read_broker_config() {
  local io_threads_member=
  [ -z "${5:-}" ] || io_threads_member=" \"io_threads\": $5,"
  local durability_member=
  [ -z "${DURABILITY:-}" ] || durability_member=", \"durability\": \"$DURABILITY\""
  cat >"$1" <<EOF_CONF
{ "broker": { "id": "bench-broker", "ods": "X26" },$io_threads_member
  "listen": { "fhir": "127.0.0.1:$broker_port" },
  "tls": { "cert": "$pki/broker-a.crt", "key": "$pki/broker-a.key", "ca": "$pki/ca.crt" },
  "store": { "url": "sqlite:$2"$durability_member },
  "participants": [
    { "ods": "RJ1", "cert_cn": "RJ1", "scopes": ["system/Patient.rs", "system/Observation.rs"],
      "purposes": ["TREAT"] },
    { "ods": "T00", "cert_cn": "T00", "fhir_base": "https://127.0.0.1:$trust_port/fhir",
      "scopes": ["system/*.rs"], "purposes": ["TREAT"] }
  ],
  "admin": { "cert_cns": ["admin"] },
  "federation": { "deadline_ms": $3 },
  "log": { "level": "$4" }
}
EOF_CONF
}

# announce_read_patient: tells the running broker's record locator that T00 holds $nhs.
announce_read_patient() {
  curl -sf --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    -H 'Content-Type: application/json' -d "{\"nhs_number\":\"$nhs\",\"ods\":\"T00\"}" \
    "https://127.0.0.1:$broker_port/admin/locator" >/dev/null
}
