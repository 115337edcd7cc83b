#!/usr/bin/env bash
# Installs what is missing, builds (release), makes a dev PKI on first run and starts the broker
# on its embedded default (SQLite under var/data). The README's run command. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"

certs/make-dev-pki.sh var/pki broker-a,broker-b,RJ1,RGT,RXH
mkdir -p var/data var/sim
# The key for research pseudonyms (HMAC-SHA256), made once like the PKI; never committed.
[ -s var/pki/pseudonym.key ] || (umask 077 && openssl rand -hex 32 > var/pki/pseudonym.key)
# ... and the key that seals message payloads at rest (AES-256-GCM).
[ -s var/pki/payload.key ] || (umask 077 && openssl rand -hex 32 > var/pki/payload.key)

# Two simulated trusts beside the broker (synthetic patients in config/demo/trusts/*/patients);
# they stop when this script does.
sims=()
for trust in RGT RXH; do
  build/release/trustbridge simulate-trust --config "config/demo/trusts/$trust/config.json" \
      >"var/sim/$trust.log" 2>&1 &
  sims+=($!)
done
trap 'kill "${sims[@]}" 2>/dev/null || true' EXIT

cat <<MSG

trustbridge demo
  config   config/demo/broker.json
  store    sqlite:var/data/trustbridge.db
  FHIR     https://127.0.0.1:8443/fhir   (mutual TLS; client certs in var/pki)
  MLLP     127.0.0.1:2575                (MLLP over mutual TLS)
  trusts   RGT https://127.0.0.1:9201/fhir + MLLP 9202, RXH https://127.0.0.1:9301/fhir + MLLP 9302
           (simulated; logs and received-message logs in var/sim)

Try, from another shell in $root:
  curl --cacert var/pki/ca.crt --cert var/pki/RJ1.crt --key var/pki/RJ1.key https://127.0.0.1:8443/fhir/metadata
The same curl without --cert/--key is refused at the TLS handshake.
  build/release/trustbridge send-hl7 --to 127.0.0.1:2575 --cert var/pki/RJ1.crt --key var/pki/RJ1.key \
      --ca var/pki/ca.crt config/demo/messages/adt_a01.hl7 config/demo/messages/adt_a08_bad_nhs_number.hl7
(AA for the first once it is stored, AE with ERR at PID-3 for the second.)
A transfer team's whole record for a patient held at both simulated trusts:
  curl --cacert var/pki/ca.crt --cert var/pki/RJ1.crt --key var/pki/RJ1.key \
      -d 'identifier=https://fhir.nhs.uk/Id/nhs-number|9990001235' 'https://127.0.0.1:8443/fhir/Patient/\$everything'
A simulated trust answers the broker's certificate directly:
  curl --cacert var/pki/ca.crt --cert var/pki/broker-a.crt --key var/pki/broker-a.key \
      'https://127.0.0.1:9201/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9990001235'

MSG
build/release/trustbridge serve --config config/demo/broker.json &
broker=$!
sims+=("$broker")
# Once the broker listens, the two simulated trusts announce their patients the way a trust's
# PAS does (an ADT^A28 each over MLLP/TLS), so the record locator knows who holds whom.
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/2575) 2>/dev/null && break
  sleep 0.1
done
for trust in RGT RXH; do
  build/release/trustbridge send-hl7 --to 127.0.0.1:2575 --cert "var/pki/$trust.crt" \
      --key "var/pki/$trust.key" --ca var/pki/ca.crt "config/demo/messages/announce_$trust.hl7" \
      >/dev/null || echo "demo: $trust could not announce its patients" >&2
done
echo "demo: RGT and RXH announced their patients; try the \$everything curl above."
wait "$broker"
