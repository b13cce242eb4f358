#!/usr/bin/env bash
# The many-accounts benchmark: builds the release scale-down and scale-up bootstraps (cargo
# lambda, as deployed), then runs bench/hub.rs: 10 targets (5 accounts × 2 regions) of 1,000
# services, each on a moto server of its own behind one router adding a latency (BENCH_LATENCY_MS,
# default 20), one target then all ten. Puts the "## Many accounts" section into
# docs/benchmarks.md, before the notes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
cargo lambda build --release --bin scale-down --bin scale-up
section=$(cargo run --quiet --bin bench-hub)
section="$section

Measured $(date -u +%Y-%m-%dT%H:%MZ) at $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with uncommitted changes)')."
python3 scripts/bench-section.py "Many accounts" "$section"
sed -n '/^## Many accounts/,/^## Notes/p' docs/benchmarks.md
