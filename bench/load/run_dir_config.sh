# Sourced by the bench/load scripts that reuse a scripts/bench.sh run dir (or a copy of one with
# other ports). run_dir_config RUN_DIR OUT [STORE_KEYS] sets port_fhir and port_mllp from
# RUN_DIR/broker.json and writes OUT/broker.json: the same config with its SQLite store in OUT
# (a copied run dir must not write into the run it was copied from) plus STORE_KEYS, JSON members
# after the store's url (e.g. ', "durability": "off"').
run_dir_config() {
  local run=$1 out=$2 store_keys=${3:-}
  port_fhir=$(sed -n 's/.*"fhir": "127.0.0.1:\([0-9]*\)".*/\1/p' "$run/broker.json" | head -1)
  port_mllp=$((port_fhir + 1))
  sed -e "s#\"url\": \"sqlite:[^\"]*\"#\"url\": \"sqlite:$out/broker.db\"$store_keys#" \
    "$run/broker.json" >"$out/broker.json"
}
