#!/usr/bin/env bash
# Installs the Python tools this project needs (moto server, cargo-lambda, zig, SAM CLI with
# cfn-lint) into ./.venv from requirements.txt. Idempotent: does nothing when already in place.
# `--browser` also installs Debian's chromium (the waking page's browser test needs it);
# `--containers` the container engine and Lambda base image the SAM tests need
# (scripts/containers.sh up; `scripts/containers.sh down` stops the engine it started).
set -euo pipefail
cd "$(dirname "$0")/.."
for option in "$@"; do
  case "$option" in
    --browser)
      if [ ! -x /usr/bin/chromium ]; then
        echo "Installing Debian's chromium for the browser tests ..."
        if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium > /dev/null
      fi
      ;;
    --containers) scripts/containers.sh up ;;
    *) echo "usage: scripts/setup.sh [--browser] [--containers]" >&2; exit 2 ;;
  esac
done
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "Installing Python tools into .venv (first run only) ..."
python3 -m venv .venv
# uv (from PyPI) installs the same pinned requirements in about 20 s, where pip takes about 100.
.venv/bin/pip install --quiet --disable-pip-version-check uv==0.13.9
.venv/bin/uv pip install --quiet --python .venv/bin/python -r requirements.txt
echo "$want" > "$stamp"
