#!/usr/bin/env bash
# Builds deploy/Dockerfile with buildah where there is no Docker engine and no registry: the base
# comes from scripts/make-base-image.sh (Debian's packages and the npm registry only). Usage:
# scripts/build-image.sh [tag] (default localhost/pareto:dev). With Docker and a registry, build the
# same file as usual: docker build -f deploy/Dockerfile -t pareto .
set -euo pipefail
cd "$(dirname "$0")/.."
export STORAGE_DRIVER="${STORAGE_DRIVER:-vfs}" BUILDAH_ISOLATION="${BUILDAH_ISOLATION:-chroot}"
base=$(bash scripts/make-base-image.sh)
ca=()
# Extra CAs this machine trusts (a TLS-inspecting proxy to the npm registry), lent to the build only.
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
  ca=(--volume "${NODE_EXTRA_CA_CERTS}:/run/build-ca.crt:ro" --build-arg NODE_EXTRA_CA_CERTS=/run/build-ca.crt)
fi
buildah bud --layers --force-rm "${ca[@]}" --build-arg "BASE=${base}" -t "${1:-localhost/pareto:dev}" -f deploy/Dockerfile .
