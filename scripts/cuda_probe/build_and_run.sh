#!/bin/bash
# CUDA probe, run on a GPU machine whose Python has a CUDA PyTorch (libtorch inside the wheel)
# but no Node: builds the addon with g++ against that libtorch and runs probe.mjs through this
# library's tensor API. Stage first, in an ignored folder .device/ of the checkout: node.xz
# (xz of the node binary), napi/ (node_api.h, js_native_api*.h, node_api_types.h and
# node-addon-api's napi*.h), and carry .device and dist (npm run build) to the machine.
# The wheel ships no gloo headers, so c10d (native/src/dist.cc) is replaced by a no-op.
set -u
T=$(python3 -c "import torch,os;print(os.path.dirname(torch.__file__))")
xz -d -c .device/node.xz > /tmp/node && chmod +x /tmp/node && /tmp/node --version
mkdir -p native/build/Release /tmp/obj
FLAGS="-std=c++17 -O2 -fPIC -fopenmp -DNAPI_VERSION=9 -DNAPI_CPP_EXCEPTIONS -D_GLIBCXX_USE_CXX11_ABI=1 -Wno-deprecated-declarations -I.device/napi -I$T/include -I$T/include/torch/csrc/api/include"
(ls native/src/*.cc native/src/kernels/*.cc | grep -v dist.cc; echo scripts/cuda_probe/dist_stub.cc) | xargs -P 8 -I{} sh -c 'g++ '"$FLAGS"' -c {} -o /tmp/obj/$(basename {} .cc).o 2> /tmp/obj/$(basename {} .cc).err; echo "{} rc=$?"'
for f in /tmp/obj/*.err; do grep -E "error" "$f" | head -8; done
g++ -shared -fopenmp /tmp/obj/*.o -L"$T/lib" -Wl,-rpath,"$T/lib" -Wl,--no-as-needed -ltorch -ltorch_cpu -ltorch_cuda -lc10 -lc10_cuda -o native/build/Release/spottune_native.node && echo linked
/tmp/node scripts/cuda_probe/probe.mjs
