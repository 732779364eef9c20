#!/usr/bin/env bash
# Installs Debian's h2load (nghttp2-client), the C HTTP/2 load generator bench:abuse floods gRPC
# with: a Node gRPC client at nice 19 topped out near 1,600 calls/s, its own CPU the bottleneck.
set -euo pipefail
if command -v h2load >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then echo "install-h2load: run as root (apt-get), or install Debian's nghttp2-client package" >&2; exit 1; fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nghttp2-client >/dev/null
h2load --version 2>&1 | head -1 || true
