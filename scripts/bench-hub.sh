#!/usr/bin/env bash
# The many-accounts benchmark: builds the release scale-down and scale-up bootstraps (cargo
# lambda, as deployed), then runs bench/hub.rs: 10 targets (5 accounts × 2 regions) of 1,000
# services on one moto server behind a latency proxy (BENCH_LATENCY_MS, default 20), one target
# then all ten. Puts the "## Many accounts" section into docs/benchmarks.md, before the notes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
cargo lambda build --release --bin scale-down --bin scale-up
section=$(cargo run --quiet --bin bench-hub)
section="$section

Measured $(date -u +%Y-%m-%dT%H:%MZ) at $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with uncommitted changes)')."
python3 - "$section" <<'PY'
import re, sys
path = "docs/benchmarks.md"
text = open(path).read()
section = sys.argv[1].strip() + "\n\n"
text = re.sub(r"## Many accounts.*?\n.*?(?=^## |\Z)", "", text, flags=re.S | re.M)
if "\n## Notes" in text:
    text = text.replace("\n## Notes", "\n" + section + "## Notes", 1)
else:
    text = text.rstrip("\n") + "\n\n" + section
open(path, "w").write(text)
PY
sed -n '/^## Many accounts/,/^## Notes/p' docs/benchmarks.md
