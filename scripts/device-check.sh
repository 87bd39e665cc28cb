#!/usr/bin/env bash
# On the lent GPU machine: builds what the GPU checks need (scripts/device-build.sh), runs the
# tests labelled gpu plus the model and policy_trainer unit tests against LibTorch 2.x, and the
# generate / train-step benches on CUDA and the CPU. Logs go to $OUT (or ./device-logs).
# Usage: bash scripts/device-check.sh [DEBS_DIR]   (stages: AHA_CHECK_STAGES="build test bench")
set -uo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$src/device-logs}
mkdir -p "$out"
stages=${AHA_CHECK_STAGES:-build test bench}
build=${AHA_DEVICE_BUILD:-$src/build-device}
prefix=${AHA_DEVICE_PREFIX:-/tmp/aha-deps}
threads=$(nproc)

{ nvidia-smi -L; g++ --version | head -1; cmake --version | head -1; nvcc --version | tail -1
  python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.is_available())'; } 2>&1 | tee "$out/machine.txt"

if [[ $stages == *build* ]]; then
  start=$SECONDS
  bash "$src/scripts/device-build.sh" "${1:-$src/.gpu/debs}" -- aha gpu_model_compare token_logprob_gpu_compare \
    model_tests actors_tests kernels_tests >"$out/build.log" 2>&1
  rc=$?
  echo "build: rc $rc in $((SECONDS - start)) s" | tee -a "$out/summary.txt"
  grep -E "error|Error" "$out/build.log" | head -40
  ((rc == 0)) || exit $rc
fi
# shellcheck source=/dev/null
source "$prefix/env.sh"

if [[ $stages == *test* ]]; then
  (cd "$build" && ctest -L gpu --output-on-failure) >"$out/test-gpu.log" 2>&1
  echo "ctest -L gpu: rc $?" | tee -a "$out/summary.txt"
  (cd "$build" && ctest -R '^(model\.|kernels\.|actors\.policy_trainer)' -j 8 --output-on-failure) >"$out/test-unit.log" 2>&1
  echo "ctest model/kernels/policy_trainer (LibTorch 2.x): rc $?" | tee -a "$out/summary.txt"
  tail -n 4 "$out/test-gpu.log" "$out/test-unit.log"
  grep -E "^(ok|FAIL) |max abs error|grpo step" "$out/test-gpu.log"
fi

if [[ $stages == *bench* ]]; then
  aha=$build/aha
  bench() {  # bench LABEL ARGS...: one JSON line per run into bench.jsonl, echoed to summary.txt
    local label=$1; shift
    local line
    line=$("$aha" bench "$@" --threads "$threads" 2>>"$out/bench.err" | tail -1)
    echo "{\"run\":\"$label\",\"result\":${line:-null}}" >>"$out/bench.jsonl"
    echo "$label: $line" >>"$out/summary.txt"
  }
  bench generate-cuda generate --device cuda
  bench generate-cpu generate --device cpu
  bench generate-cuda-100m-b32 generate --device cuda --models 100m --batch-100m 32 --new-tokens-100m 128 --no-naive
  bench generate-cpu-100m-b32 generate --device cpu --models 100m --batch-100m 32 --new-tokens-100m 128 --no-naive
  bench train-step-cuda train-step --device cuda
  bench train-step-cpu train-step --device cpu --steps 1
  cat "$out/bench.err"
fi
