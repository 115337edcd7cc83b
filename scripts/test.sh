#!/usr/bin/env bash
# Installs what is missing, builds (Debug, -Werror) and runs every test. This is the README's
# test command and exactly what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cmake --preset debug
cmake --build --preset debug -j "$(nproc)"
ctest --test-dir build/debug --output-on-failure -j "$(nproc)" --timeout 600
