#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan; preset "fuzz") and runs each for a bounded
# time on a copy of its seed corpus. Not part of scripts/test.sh (which replays the seeds through
# every target instead); run it after touching a parser.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target hl7v2_parse_fuzz mllp_framer_fuzz fhir_json_fuzz \
  federated_answer_fuzz v2_to_fhir_fuzz fhir_to_v2_fuzz policy_inputs_fuzz \
  fhirpath_fuzz fhir_request_fuzz message_ingest_fuzz
testdata=$(cd .. && pwd)/shared/testdata
run() {
  local target=$1 binary=$2
  shift 2
  local corpus=build/fuzz/corpus/$target
  mkdir -p "$corpus"
  for seeds in "$@"; do
    find "$seeds" -type f -size -1024k -exec cp -n {} "$corpus"/ \;
  done
  echo "== $target: ${seconds}s"
  # The suppressions every test run uses (the process-lifetime JSON schemas are not leaks).
  LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp" \
  "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "$corpus"
}
run hl7v2_parse_fuzz build/fuzz/tests/fuzz/hl7v2/hl7v2_parse_fuzz "$testdata/hl7v2"
run mllp_framer_fuzz build/fuzz/tests/fuzz/mllp/mllp_framer_fuzz "$testdata/hl7v2"
run fhir_json_fuzz build/fuzz/tests/fuzz/fhir/fhir_json_fuzz "$testdata/fhir-r4/examples-r4-spec"
run federated_answer_fuzz build/fuzz/tests/fuzz/federation/federated_answer_fuzz \
  "$testdata/ukcore/pds-fhir-api/search-responses" config/demo/trusts/RGT/patients
run v2_to_fhir_fuzz build/fuzz/tests/fuzz/mappings/v2_to_fhir_fuzz "$testdata/hl7v2" bench/mappings/data
run fhir_to_v2_fuzz build/fuzz/tests/fuzz/mappings/fhir_to_v2_fuzz config/demo/trusts/RGT/patients \
  tests/adapters/fhir/data/ukcore
run policy_inputs_fuzz build/fuzz/tests/fuzz/policy/policy_inputs_fuzz tests/fuzz/policy/seeds
run fhirpath_fuzz build/fuzz/tests/fuzz/fhirpath/fhirpath_fuzz tests/fuzz/fhirpath/seeds
run fhir_request_fuzz build/fuzz/tests/fuzz/api/fhir_request_fuzz tests/fuzz/api/seeds
run message_ingest_fuzz build/fuzz/tests/fuzz/routing/message_ingest_fuzz tests/fuzz/routing/seeds
