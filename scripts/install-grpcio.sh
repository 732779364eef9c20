#!/usr/bin/env bash
# Installs Debian's python3-grpcio: gRPC's C-core client, which test/protocol/grpc-c-core.test.ts
# speaks to the server with (a client that is not grpc-js, as Triton's Python client is built on it).
set -euo pipefail
if /usr/bin/python3 -c 'import grpc' >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then echo "install-grpcio: run as root (apt-get), or install Debian's python3-grpcio package" >&2; exit 1; fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-grpcio >/dev/null
/usr/bin/python3 -c 'import grpc; print("grpcio", grpc.__version__)'
