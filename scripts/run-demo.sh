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
mkdir -p var/data

cat <<MSG

trustbridge demo
  config   config/demo/broker.json
  store    sqlite:var/data/trustbridge.db
  FHIR     https://127.0.0.1:8443/fhir   (mutual TLS; client certs in var/pki)
  MLLP     127.0.0.1:2575                (MLLP over mutual TLS)

Try, from another shell in $root:
  curl --cacert var/pki/ca.crt --cert var/pki/RJ1.crt --key var/pki/RJ1.key https://127.0.0.1:8443/fhir/metadata
The same curl without --cert/--key is refused at the TLS handshake.
  build/release/trustbridge send-hl7 --to 127.0.0.1:2575 --cert var/pki/RJ1.crt --key var/pki/RJ1.key \
      --ca var/pki/ca.crt config/demo/messages/adt_a01.hl7 config/demo/messages/adt_a08_bad_nhs_number.hl7
(AA for the first once it is stored, AE with ERR at PID-3 for the second.)

MSG
exec build/release/trustbridge serve --config config/demo/broker.json
