#!/usr/bin/env bash
# A local AWS endpoint (moto server on 127.0.0.1) seeded with the demo fleet, left running so
# you can invoke the functions yourself; prints the commands. Ctrl-C stops it.
#   scripts/local-endpoint.sh [--host ADDRESS] [--port N]   (--host 172.17.0.1: reachable from containers, for sam local)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec cargo run --quiet --bin demo -- --serve "$@"
