#!/usr/bin/env bash
# Installs Debian's Chromium for the dashboard's browser test (playwright-core drives it; no
# browser is downloaded from anywhere but Debian's package archive).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then echo "install-chromium: run as root (apt-get), or install Debian's chromium package" >&2; exit 1; fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
chromium --version
