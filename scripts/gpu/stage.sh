#!/bin/bash
# Stages what scripts/gpu/check.sh needs on a GPU machine that has a CUDA PyTorch but no Node and
# no network, into the ignored folder .device/ (about 50 MB): node.xz (this machine's node
# binary), napi/ (the N-API headers the addon compiles against) and modules.tar.xz (the runtime
# packages: tsx, esbuild, sharp and libvips, ...). Carry .device to the machine with the checkout.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .device/napi
xz -T0 -6 -c "$(command -v node)" > .device/node.xz
NODE_INC=$(dirname "$(command -v node)")/../include/node
cp "$NODE_INC"/node_api.h "$NODE_INC"/node_api_types.h "$NODE_INC"/js_native_api.h "$NODE_INC"/js_native_api_types.h .device/napi/
cp node_modules/node-addon-api/napi*.h .device/napi/
# The production dependencies without ONNX Runtime (not used by the check), plus tsx and esbuild.
{ npm ls --omit=dev --all --parseable; echo "$PWD/node_modules/tsx"; echo "$PWD/node_modules/esbuild"; echo "$PWD/node_modules/@esbuild/linux-x64"; } 2>/dev/null |
  grep /node_modules/ | grep -v onnxruntime | sed "s#^$PWD/##" | sort -u > .device/modules.txt
tar -cf - -T .device/modules.txt | xz -T0 -6 > .device/modules.tar.xz
du -sh .device/*
