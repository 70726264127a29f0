#!/usr/bin/env bash
# Runs dml's WebGPU benchmarks on a bare GPU machine from what bench/gpu/pack.sh put in .carry/,
# and PyTorch's figure for the same training step (bench/gpu/torch_resnet50.py) when python3 has
# torch. Everything it prints is also written to $OUT/gpu.log (the device tool brings $OUT back).
#
#   bash bench/gpu/run.sh [--quick]     # --quick: batch 4 and 2 steps, to check the kit on lavapipe
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$(mktemp -d)}
log="$OUT/gpu.log"
: >"$log"
say() { echo "$@" | tee -a "$log"; }
run() { say "\$ $*"; "$@" 2>&1 | grep -v XDG_RUNTIME_DIR | tee -a "$log"; }

# The carried node_modules lacks packages these runs never import: "manual" makes Deno use it as it
# is instead of fetching the rest of deno.lock.
dr() { run deno run -A --node-modules-dir=manual --unstable-webgpu "$@"; }

quick=false
[ "${1:-}" = "--quick" ] && quick=true

# The Vulkan loader, unless the machine has one; the NVIDIA driver's ICD where the image keeps it.
if ! ldconfig -p | grep -q 'libvulkan.so.1'; then
  for f in .carry/libvulkan1_*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES="$icd"

bin=$(mktemp -d)
xz -dc .carry/deno.xz >"$bin/deno" && chmod +x "$bin/deno"
[ -d node_modules ] || tar -xJf .carry/node_modules.tar.xz
export PATH="$bin:$PATH" DENO_DIR="$bin/deno-dir" DENO_NO_UPDATE_CHECK=1

command -v nvidia-smi >/dev/null && run nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
say "deno: $(command -v deno)"; run deno --version

if $quick; then
  batches=(4) steps=2 profile_batch=2 torch_steps=(--steps 2 --warmup 1)
else
  batches=(32 64) steps=8 profile_batch=32 torch_steps=()
fi
for b in "${batches[@]}"; do
  dr bench/train_throughput.ts --backends webgpu --models resnet50 \
    --resnet-batch "$b" --steps "$steps"
done
dr bench/train_throughput.ts --backends webgpu --models quickstart-random --steps "$((steps + 2))"
dr bench/profile_step.ts --backend webgpu --batch "$profile_batch" --steps 1 --top 25

if python3 -c "import torch, torchvision" 2>/dev/null; then
  run python3 bench/gpu/torch_resnet50.py --batch "${batches[@]}" "${torch_steps[@]}"
else
  say "python3 has no torch/torchvision here: no PyTorch figure"
fi
say "log: $log"
