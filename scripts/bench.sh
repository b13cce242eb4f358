#!/usr/bin/env bash
# The benchmark: builds the release bootstraps (cargo lambda, as deployed), zips them as SAM
# does, then runs bench/main.rs: 1,000 services over 20 clusters (200 autoscaled) on moto,
# scale-down then scale-up, calls against the floor, peak RSS, start-up time, zipped sizes.
# Writes the report to docs/benchmarks.md. Arguments VAR=value are passed to the functions
# (e.g. UPDATE_SERVICE_RATE=1000 to measure without the UpdateService pacing).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"

build_started=$(date +%s)
cargo lambda build --release
build_seconds=$(( $(date +%s) - build_started ))
for f in scale-down scale-up reconcile wake; do
  python3 - "target/lambda/$f" <<'PY'
import os, sys, zipfile
d = sys.argv[1]
with zipfile.ZipFile(os.path.join(d, "bootstrap.zip"), "w", zipfile.ZIP_DEFLATED) as z:
    z.write(os.path.join(d, "bootstrap"), "bootstrap")
PY
done

report=$(cargo run --quiet --bin bench -- "$@")
{
  echo "# Benchmarks"
  echo
  echo "Reproduce: \`scripts/bench.sh${*:+ $*}\` (writes this file). Not a test: numbers, not pass/fail."
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "- commit: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with uncommitted changes)')"
  echo "- machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
  echo "- toolchain: $(rustc --version), cargo-lambda $(cargo lambda --version | awk '{print $2}'), moto $(python3 -c 'import moto; print(moto.__version__)')"
  echo "- release build of the five functions (\`cargo lambda build --release\`, warm dependency cache): ${build_seconds} s"
  echo
  echo "$report"
  # The command line's section (scripts/bench-cli.sh) and hand-written notes survive a re-run.
  if [ -f docs/benchmarks.md ] && grep -qE '^## (Command line|Notes)' docs/benchmarks.md; then
    echo; sed -n '/^## \(Command line\|Notes\)/,$p' docs/benchmarks.md
  fi
} > docs/benchmarks.md.new
mv docs/benchmarks.md.new docs/benchmarks.md
cat docs/benchmarks.md
