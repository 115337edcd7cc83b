#!/usr/bin/env bash
# Installs pinned npm packages that tests use as independent peers (e.g. node-hl7-client as a
# third-party MLLP client) into DIR/node_modules, inside the build folder: never committed, never
# global. Idempotent: packages already present are not fetched again.
#   scripts/npm-test-peers.sh DIR PACKAGE@VERSION...
set -euo pipefail
dir=$1
shift
command -v npm >/dev/null || { echo "npm-test-peers: npm is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"
[ -f package.json ] || echo '{ "name": "trustbridge-test-peers", "private": true }' > package.json
missing=()
for spec in "$@"; do
  name=${spec%@*}
  version=${spec##*@}
  installed=$(node -p "try { require('./node_modules/$name/package.json').version } catch (e) { '' }")
  [ "$installed" = "$version" ] || missing+=("$spec")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "npm-test-peers: installing ${missing[*]}"
  npm install --no-audit --no-fund --no-save --loglevel=error "${missing[@]}"
fi
