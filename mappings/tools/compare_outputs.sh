#!/bin/sh
# Byte-for-byte check that a change to the v2 -> FHIR mapper left its output unchanged.
#   mappings/tools/compare_outputs.sh save    BUILD_DIR DIR   # before the change
#   mappings/tools/compare_outputs.sh compare BUILD_DIR DIR   # after: exit 1 and a diff if any differ
# Maps every ER7 file under shared/testdata, tests/ and bench/ (any *.hl7 / *.txt holding an MSH
# segment) under four option sets, plus 2,000 deterministic mutations, and every FHIR *.json file
# there under 1 MB to v2 (bench/mappings/mappings_dump).
# The file list is taken at `save` and kept in DIR/FILES, so files others add later do not count.
set -eu
mode=$1 build=$2 dir=$3
src=$(cd "$(dirname "$0")/../.." && pwd)
shared=$(cd "$src/../shared/testdata" && pwd)
find_files() {
  (cd "$src" && grep -rlE --include='*.hl7' --include='*.txt' 'MSH\|' tests bench | sed "s|^|$src/|"
   grep -rlE --include='*.hl7' --include='*.txt' 'MSH\|' "$shared"
   find "$src/tests" "$src/bench" "$shared" -name '*.json' -size -1000k) | LC_ALL=C sort
}
case $mode in
  save)
    rm -rf "$dir"
    files=$(find_files)
    # shellcheck disable=SC2086
    "$build/bench/mappings/mappings_dump" "$dir" $files
    echo "$files" > "$dir/FILES" ;;
  compare)
    after=$(mktemp -d)
    # shellcheck disable=SC2086
    "$build/bench/mappings/mappings_dump" "$after" $(cat "$dir/FILES")
    cp "$dir/FILES" "$after/FILES"
    if diff -r -q "$dir" "$after"; then
      echo "identical: $(ls "$dir" | wc -l) outputs"
      rm -rf "$after"
    else
      echo "DIFFERENT (new outputs in $after)" >&2
      exit 1
    fi ;;
  *) echo "usage: $0 save|compare BUILD_DIR DIR" >&2; exit 2 ;;
esac
