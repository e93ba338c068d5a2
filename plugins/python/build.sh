#!/usr/bin/env bash
# Builds a Python policy into a WebAssembly component.
#
#   plugins/python/build.sh OUT.wasm [APP.py]     (APP defaults to the reference IVR)
#
# Needs componentize-py in the repository's venv:
#   python3 -m venv .venv && .venv/bin/pip install -r plugins/python/requirements.txt
# APP.py is the app module (it defines `WitWorld`, e.g. with @switchboard_policy.policy);
# the modules next to it are importable too. The SDK is staged alone on the Python path,
# so the tests and stub bindings around it stay out of the component.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [[ $# -lt 1 || $# -gt 2 ]]; then
  echo "usage: $0 OUT.wasm [APP.py]" >&2
  exit 2
fi
abs() { [[ $1 = /* ]] && printf '%s\n' "$1" || printf '%s\n' "$PWD/$1"; }
out="$(abs "$1")"
app="$(abs "${2:-$here/ivr/app.py}")"
module="$(basename "$app" .py)"

if [[ ! -f $app || $app != *.py ]]; then
  echo "error: $app is not a Python file" >&2
  exit 2
fi
if [[ ! $module =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
  echo "error: $module is not a Python module name (letters, digits, _)" >&2
  exit 2
fi
case "$module" in
  wit_world | call_policy | switchboard_policy | switchboard_entry)
    echo "error: the app module cannot be called $module" >&2
    exit 2
    ;;
esac

cpy="$root/.venv/bin/componentize-py"
if [[ ! -x $cpy ]]; then
  echo "error: $cpy is missing; run: python3 -m venv $root/.venv && $root/.venv/bin/pip install -r $here/requirements.txt" >&2
  exit 1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/switchboard-py.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/sdk" "$work/app"
cp -R "$here/switchboard_policy" "$work/sdk/"
find "$(dirname "$app")" -maxdepth 1 -name '*.py' -exec cp {} "$work/app/" \;
find "$work" -name __pycache__ -prune -exec rm -rf {} +
# The module componentize-py imports before taking the snapshot: the app, then its
# policy's warm-up, if it asked for one (switchboard_policy/warm.py).
cat >"$work/app/switchboard_entry.py" <<EOF
import importlib

from switchboard_policy.warm import prepare

WitWorld = prepare(importlib.import_module("$module"))
EOF

mkdir -p "$(dirname "$out")"
# An activated venv (VIRTUAL_ENV) would put its site-packages on the component's path.
env -u VIRTUAL_ENV "$cpy" -q -d "$root/wit" -w call-policy componentize \
  -p "$work/app" -p "$work/sdk" switchboard_entry -o "$work/policy.wasm" >"$work/componentize.log" 2>&1 || {
  cat "$work/componentize.log" >&2
  exit 1
}
# The objects the snapshot holds, made immortal (immortalize.py says why).
"$root/.venv/bin/python" "$here/immortalize.py" "$work/policy.wasm" >"$work/immortalize.log" 2>&1 || {
  cat "$work/immortalize.log" >&2
  exit 1
}
mv -f "$work/policy.wasm" "$out"
echo "built $out ($(du -h "$out" | cut -f1)); $(sed -n 's/^immortalize: [^:]*: //p' "$work/immortalize.log")"
