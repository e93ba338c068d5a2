#!/usr/bin/env bash
# Builds a JavaScript policy into a WebAssembly component.
#
#   plugins/js/build.sh OUT.wasm [ENTRY.js]     (ENTRY defaults to the reference IVR)
#
# Needs plugins/js/node_modules (`npm ci` in plugins/js). Steps: generate the WIT's
# guest types into plugins/js/types/ (for editors), bundle ENTRY and the SDK into one
# ES module with esbuild (componentize-js takes a single module; the contract's
# `switchboard:policy/*` imports stay external), then componentize-js against
# wit/ (world `call-policy`) with the http and fetch-event features disabled.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [[ $# -lt 1 || $# -gt 2 ]]; then
  echo "usage: $0 OUT.wasm [ENTRY.js]" >&2
  exit 2
fi
abs() { [[ $1 = /* ]] && printf '%s\n' "$1" || printf '%s\n' "$PWD/$1"; }
out="$(abs "$1")"
entry="$(abs "${2:-$here/ivr/ivr.js}")"

bin="$here/node_modules/.bin"
for tool in jco esbuild componentize-js; do
  if [[ ! -x $bin/$tool ]]; then
    echo "error: $bin/$tool is missing; run \`npm ci\` in $here first" >&2
    exit 1
  fi
done

work="$(mktemp -d "${TMPDIR:-/tmp}/switchboard-js.XXXXXX")"
trap 'rm -rf "$work"' EXIT

"$bin/jco" guest-types "$root/wit" --world-name call-policy --out-dir "$here/types" --quiet

"$bin/esbuild" "$entry" --bundle --format=esm --platform=neutral --target=es2022 \
  '--external:switchboard:*' --log-level=warning --outfile="$work/policy.js"

mkdir -p "$(dirname "$out")"
"$bin/componentize-js" "$work/policy.js" \
  --wit "$root/wit" --world-name call-policy \
  --disable http fetch-event \
  --out "$work/policy.wasm" >"$work/componentize.log" 2>&1 || {
  cat "$work/componentize.log" >&2
  exit 1
}
mv -f "$work/policy.wasm" "$out"
echo "built $out ($(du -h "$out" | cut -f1))"
