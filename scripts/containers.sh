#!/usr/bin/env bash
# The container engine the SAM tests need (README, "Testing with SAM locally"):
#   scripts/containers.sh up     installs Debian's docker.io and debootstrap (first run only),
#                                starts dockerd when none runs, makes the Lambda base image
#                                available (pulled when the registry answers, otherwise an
#                                offline Debian stand-in under the tag SAM asks for)
#   scripts/containers.sh down   stops the dockerd that `up` started (by its PID), if any
# dockerd gets the bridge network only (--iptables=false --ip-masq=false --ip-forward=false):
# containers reach this machine (the bridge address, 172.17.0.1) and nothing beyond it.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=public.ecr.aws/lambda/provided:al2023-x86_64
PIDFILE=target/dockerd.pid
mkdir -p target
if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi

up() {
  if ! command -v dockerd > /dev/null || ! command -v debootstrap > /dev/null; then
    echo "Installing Debian's docker.io and debootstrap ..."
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq docker.io debootstrap > /dev/null
  fi
  if ! docker info > /dev/null 2>&1; then
    echo "Starting dockerd (bridge network only) ..."
    $sudo dockerd --iptables=false --ip-masq=false --ip-forward=false > target/dockerd.log 2>&1 &
    echo $! > "$PIDFILE"
    for _ in $(seq 1 60); do docker info > /dev/null 2>&1 && break; sleep 0.5; done
    docker info > /dev/null 2>&1 || { echo "dockerd did not start; see target/dockerd.log" >&2; exit 1; }
  fi
  if ! docker image inspect "$IMAGE" > /dev/null 2>&1; then
    if timeout 60 docker pull -q "$IMAGE" > /dev/null 2>&1; then
      echo "Pulled $IMAGE."
    else
      standin
    fi
  fi
}

# Debian (this machine's release), minbase plus CA certificates, imported under the tag SAM
# asks for: a stand-in, not Amazon Linux (README says what it does and does not prove).
standin() {
  echo "No registry: building a Debian stand-in for $IMAGE with debootstrap ..."
  . /etc/os-release
  root=$(mktemp -d "${TMPDIR:-/tmp}/lambda-standin.XXXXXX")
  $sudo debootstrap --variant=minbase --include=ca-certificates "${VERSION_CODENAME:-bookworm}" "$root" \
    http://deb.debian.org/debian > target/debootstrap.log 2>&1 \
    || { echo "debootstrap failed; see target/debootstrap.log" >&2; exit 1; }
  $sudo tar -C "$root" -c . | docker import - "$IMAGE" > /dev/null
  $sudo rm -rf "$root"
  echo "Imported the stand-in as $IMAGE."
}

down() {
  if [ -f "$PIDFILE" ]; then
    pid=$(cat "$PIDFILE")
    $sudo kill "$pid" 2> /dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2> /dev/null || break; sleep 0.25; done
    rm -f "$PIDFILE"
    echo "Stopped dockerd ($pid)."
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: scripts/containers.sh up|down" >&2; exit 2 ;;
esac
