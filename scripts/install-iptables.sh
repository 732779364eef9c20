#!/usr/bin/env bash
# Installs Debian's iptables for the network-fault tests (test/cluster/network-faults.test.ts):
# they make their own network namespaces and drop, reset or thin out packets between them. Nothing
# here touches the host's own namespace.
set -euo pipefail
if command -v iptables >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then echo "install-iptables: run as root (apt-get), or install Debian's iptables package" >&2; exit 1; fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iptables >/dev/null
iptables --version
