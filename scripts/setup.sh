#!/usr/bin/env bash
# Installs mirage's Debian dependencies. Idempotent: does nothing when all are present,
# runs `apt-get update` only when a package cannot be found in the local lists.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libtorch-dev            # LibTorch 1.13 (CPU)
  libopenblas0-openmp     # without it LibTorch falls back to reference BLAS: ~10x slower
  libopencv-dev           # image I/O (lib/image and cli only)
  libboost-program-options-dev
  nlohmann-json3-dev
  catch2                  # v2, tests
  zlib1g-dev              # IDX .gz
  libvalijson-dev         # JSON Schema validation of reports
  libbenchmark-dev        # bench/
  python3-torch           # proves exported TorchScript loads in PyTorch
  python3-torchvision     # foreign architectures (ResNet-18/50) for tests and benchmarks
  dataset-fashion-mnist   # the embedded default data set
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present" >&2
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
echo "setup: installing ${missing[*]}" >&2
if ! $SUDO apt-get install -y --no-install-recommends "${missing[@]}"; then
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
