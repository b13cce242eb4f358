#!/usr/bin/env bash
# A local AWS endpoint (moto server on 127.0.0.1) seeded with the demo fleet, left running so
# you can invoke the functions yourself; prints the commands. Ctrl-C stops it.
#   scripts/local-endpoint.sh [--port N]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec cargo run --quiet --bin demo -- --serve "$@"
