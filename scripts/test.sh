#!/usr/bin/env bash
# Quick start 2: every check, exactly as CI runs it (.ci/run calls this script).
# Formatting and lints, unit + in-memory flow tests, integration tests against moto server,
# end-to-end tests through cargo lambda, the template linters, `sam build` and every function
# under `sam local invoke`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --browser --containers
# The container engine, when this script started it, stops with it (by its PID).
trap 'scripts/containers.sh down' EXIT
export SAM_CLI_TELEMETRY=0
export PATH="$PWD/.venv/bin:$PATH"

# Each step prints how long the one before it took, so a slow CI run shows where the time went.
last=$SECONDS
step() {
  printf '\n==> %s   (previous step: %ds, total %ds)\n' "$*" $((SECONDS - last)) "$SECONDS"
  last=$SECONDS
}

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
step "cargo test (unit, flows, moto integration, cargo lambda end to end)"
mkdir -p target
cargo test --workspace 2>&1 | tee target/test-output.log
step "cfn-lint template.yaml spoke.yaml"
cfn-lint template.yaml spoke.yaml
step "sam validate --lint"
sam validate --lint --region us-east-1
# This machine's toolchain has only the x86_64 target and CI must not download another one;
# deployments default to arm64 (see the README). The check is that the template builds and
# packages every function: a fast release profile (no LTO, parallel codegen, no optimisation)
# saves most of the tuned profile's minutes (measured cold: opt-level 1 took 406 s here);
# deployments and the benchmark keep the tuned one from Cargo.toml.
step "sam build (x86_64, fast release profile)"
CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=0 \
  sam build --parameter-overrides Architecture=x86_64
ls -l .aws-sam/build/{ScaleDown,ScaleUp,Reconcile,Wake,Waker}Function/bootstrap
# --workspace: the same feature resolution as the test run above, so nothing is compiled again.
step "sam local invoke and start-lambda (every function in containers, against moto on the bridge)"
cargo test --workspace --test sam --test sam_start_lambda -- --ignored 2>&1 | tee -a target/test-output.log

# One closing line with the totals over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\ntests: %d passed, %d failed\n", p, f }' target/test-output.log
printf 'time: sam local invokes %ds, total %ds\n' $((SECONDS - last)) "$SECONDS"
