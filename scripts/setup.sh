#!/bin/bash
# All set-up on a fresh Debian 12 machine, idempotent: apt packages (only when one is
# missing), npm packages, the native addon, the TypeScript build. Run as root (or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential python3 cmake            # native build (node-gyp)
  libtorch-dev libopenblas0-pthread        # libtorch; OpenBLAS as the system BLAS (60x faster linear layers)
  libgloo-dev                              # c10d Gloo headers (data-parallel training)
  python3-torch python3-torchvision        # the reference for fixtures and benchmarks
  python3-scipy                            # .mat fixtures
  python3-pil                              # PIL: the reference image decoder (test/data/image_files.test.ts)
  python3-onnx                             # the official ONNX checker, for the exported models
  python3-protobuf                         # an independent reader of the TensorBoard event files
  dataset-fashion-mnist python3-sklearn    # offline data: Fashion-MNIST, UCI digits
  fonts-dejavu-core fonts-liberation2 fonts-freefont-ttf fonts-noto-core fonts-crosextra-carlito fonts-urw-base35
  chromium                                 # headless browser: the HTML report's rendering test
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  # onnxruntime-node ships its CPU build in the package; skip its optional download of
  # the CUDA providers (from a host this machine cannot reach, which would fail npm ci).
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
fi

npm run --silent build:native
npm run --silent build
