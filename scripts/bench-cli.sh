#!/usr/bin/env bash
# The command line's benchmark: builds the release `ecs-cost-saver` binary, then runs
# bench/cli.rs (500 services on moto: start-up, `status` wall time and RSS, its AWS reads against
# one reconcile's). Puts the "## Command line" section into docs/benchmarks.md, before the notes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
started=$(date +%s)
cargo build --release -p ecs-cost-saver-cli
build_seconds=$(( $(date +%s) - started ))
section=$(cargo run --quiet --bin bench-cli -- "$build_seconds")
section="$section

Measured $(date -u +%Y-%m-%dT%H:%MZ) at $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with uncommitted changes)')."
python3 scripts/bench-section.py "Command line" "$section"
sed -n '/^## Command line/,/^## Notes/p' docs/benchmarks.md
