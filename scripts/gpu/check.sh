#!/bin/bash
# The device check: on a machine with an NVIDIA GPU and a CUDA PyTorch (python3 -c 'import torch'),
# unattended, in under 8 minutes: builds the addon against that PyTorch's libtorch, runs the
# device tests on cuda, the GPU benchmark against PyTorch eager in the same run, and a real
# `spottune train --device cuda` on a generated JPEG folder against the loader alone; prints one
# table. Stage first on a machine with Node (scripts/gpu/stage.sh), carry .device/ along.
# Without a GPU it stops after the build with the reason (it is checked that far on the CPU).
# Env: OUT (where logs go, default /tmp/spottune-gpu), DEVICE (default cuda), REPS (default 5).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/spottune-gpu}
DEVICE=${DEVICE:-cuda}
REPS=${REPS:-5}
mkdir -p "$OUT"
T0=$(date +%s)
TABLE="$OUT/table.md"
printf '| check | result | detail |\n| --- | --- | --- |\n' > "$TABLE"
row() { printf '| %s | %s | %s |\n' "$1" "$2" "$3" >> "$TABLE"; }
finish() { row "total time" "$(( $(date +%s) - T0 )) s" "limit 480 s"; echo; cat "$TABLE"; exit "${1:-0}"; }

# 1. Node and the runtime packages (no network on the GPU machine).
if ! command -v node > /dev/null; then
  mkdir -p /tmp/spottune-node && xz -d -c .device/node.xz > /tmp/spottune-node/node && chmod +x /tmp/spottune-node/node
  export PATH=/tmp/spottune-node:$PATH
fi
[ -d node_modules/tsx ] || xz -d -c .device/modules.tar.xz | tar -xf -
row "node" "$(node --version)" "$(command -v node)"

# 2. The addon, with g++ against the installed PyTorch's libtorch (LIBTORCH=auto, see native/find-libtorch.mjs).
export LIBTORCH=${LIBTORCH-auto}  # LIBTORCH= (empty): Debian's
B=native/build/Release; O=/tmp/spottune-obj; mkdir -p "$B" "$O"
F="node find-libtorch.mjs"
INC=$(cd native && $F include) || finish 1
LIBDIR=$(cd native && $F libdir); LIBS=$(cd native && $F libs); ABI=$(cd native && $F abi); DIST=$(cd native && $F dist 2>> "$OUT/build.log")
NAPI=${NAPI:-$( [ -d .device/napi ] && echo .device/napi || node -p "require('node-addon-api').include_dir") }
FLAGS="-std=c++17 -O2 -fPIC -fopenmp -DNAPI_VERSION=9 -DNAPI_CPP_EXCEPTIONS -D_GLIBCXX_USE_CXX11_ABI=$ABI -Wno-deprecated-declarations -I$NAPI -I/usr/include/node $(printf -- "-I%s " $INC)"
SRCS="native/src/addon.cc native/src/ops.cc native/src/allocator.cc native/$DIST native/src/kernels/winograd.cc native/src/kernels/sgd.cc native/src/kernels/mix.cc"
tb=$(date +%s)
echo $SRCS | tr ' ' '\n' | xargs -P "$(nproc)" -I{} sh -c 'g++ '"$FLAGS"' -c {} -o '"$O"'/$(basename {} .cc).o 2>> '"$OUT"'/build.log' &&
  g++ -shared -fopenmp "$O"/*.o -L"$LIBDIR" -Wl,-rpath,"$LIBDIR" -Wl,--no-as-needed $LIBS -o "$B/spottune_native.node" 2>> "$OUT/build.log"
if [ $? -ne 0 ]; then row "build" "FAIL" "see $OUT/build.log: $(grep -m1 error "$OUT/build.log")"; finish 1; fi
INFO=$(node --import tsx -e "import * as t from './src/torch/index.ts'; console.log('libtorch', t.libtorchVersion(), 'cuda built', t.cudaBuilt(), 'GPUs', t.cudaDeviceCount())" 2>&1)
row "build" "ok ($(( $(date +%s) - tb )) s)" "$INFO; $(grep -o 'without data-parallel' "$OUT/build.log" | head -1)"
if ! node --import tsx -e "import * as t from './src/torch/index.ts'; t.checkDevice('$DEVICE', 'DEVICE')" 2> "$OUT/device.err"; then
  row "device $DEVICE" "unavailable" "$(grep -m1 "^Error" "$OUT/device.err" | sed "s/^Error: //")"; finish 2
fi

# 3. Device tests: the suite's device subset on the GPU, compared with the CPU.
tt=$(date +%s)
SPOTTUNE_TEST_DEVICE=$DEVICE node --import tsx --test --test-concurrency=1 test/device/device.test.ts test/torch/autocast.test.ts test/optim/grad_scaler.test.ts test/train/saved_run_device.test.ts > "$OUT/tests.tap" 2>&1
for k in pass fail skipped; do eval "$k=$(grep -m1 "^# $k " "$OUT/tests.tap" | awk '{print $3}')"; done
row "device tests on $DEVICE" "$pass passed, $fail failed, $skipped skipped ($(( $(date +%s) - tt )) s)" "$(grep '^not ok' "$OUT/tests.tap" | head -3 | tr '\n' ';')"

# 4. GPU benchmark: SpotTune ResNet-50, 224x224, batch 64, ours vs PyTorch eager channels-last, in turns.
NAME="SpotTune ResNet-50 training step (batch 64, 3x224x224)"
med() { python3 -c "import json,sys,statistics; print(round(statistics.median(json.loads(sys.argv[1])['ms']), 1))" "$1" 2>/dev/null || echo NaN; }
for p in fp32 bf16; do
  O1=$(node --import tsx bench/spottune.ts time step50_224 "$REPS" --device "$DEVICE" --precision $p 2>> "$OUT/bench.log" | tail -1)
  P1=$(python3 bench/spottune_peer.py "$(nproc)" time "$NAME" "$REPS" --device "$DEVICE" --precision $p 2>> "$OUT/bench.log" | tail -1)
  O2=$(node --import tsx bench/spottune.ts time step50_224 "$REPS" --device "$DEVICE" --precision $p 2>> "$OUT/bench.log" | tail -1)
  o=$(python3 -c "import statistics,sys; print(round(statistics.mean([float(x) for x in sys.argv[1:]]), 1))" "$(med "$O1")" "$(med "$O2")")
  t=$(med "$P1")
  eval "ours_$p=$o"
  row "ResNet-50 step $p (ms), ours vs PyTorch" "$o vs $t: $(python3 -c "print(f'{$o/$t:.2f}x')" 2>/dev/null)" "target <= 1.0x"
done
row "bf16 speed-up over fp32 (ours)" "$(python3 -c "print(f'{$ours_fp32/$ours_bf16:.2f}x')" 2>/dev/null)" "target >= 2x"

# 5. A real run on a generated JPEG folder: training images/s against the loader alone.
if node --import tsx src/cli/main.ts train --help 2>/dev/null | grep -q -- '--device'; then
  UV_THREADPOOL_SIZE=$(nproc) node --import tsx scripts/gpu/train_check.ts "$DEVICE" "$OUT" >> "$TABLE" 2> "$OUT/train.log" || row "spottune train --device $DEVICE" "FAIL" "$(tail -2 "$OUT/train.log" | tr '\n' ' ')"
else
  row "spottune train --device $DEVICE" "not run" "this checkout's CLI has no --device yet"
fi
finish 0
