#!/usr/bin/env bash
# Installs the Python tools this project needs (moto server, cargo-lambda, zig, SAM CLI with
# cfn-lint) into ./.venv from requirements.txt. Idempotent: does nothing when already in place.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "Installing Python tools into .venv (first run only) ..."
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
echo "$want" > "$stamp"
