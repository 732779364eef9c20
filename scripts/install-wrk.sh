#!/usr/bin/env bash
# Installs Debian's wrk, the C load generator bench:abuse and bench:front-door flood with (far
# cheaper per request than a Node client, so the flood is the server's cost, not the generator's).
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then echo "install-wrk: run as root (apt-get), or install Debian's wrk package" >&2; exit 1; fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
wrk --version 2>&1 | head -1 || true
