#!/usr/bin/env bash
# Installs Debian's redis-server for the distributed-mode tests and bench:cluster (each test starts
# and stops its own server on a free loopback port; nothing runs as a system service).
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then echo "install-redis: run as root (apt-get), or install Debian's redis-server package" >&2; exit 1; fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
# The package starts a system service on 6379 where an init system runs; the project never uses it.
(service redis-server stop || true) >/dev/null 2>&1
redis-server --version
