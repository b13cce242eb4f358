#!/usr/bin/env bash
# Quick start 1: a local AWS endpoint seeded with a demo fleet; scale-down, its summary,
# scale-up, its summary, and a before/after table. Needs no AWS account.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo run --quiet --bin demo
