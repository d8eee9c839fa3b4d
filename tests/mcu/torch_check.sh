#!/usr/bin/env bash
# cnn_torch_check: frugal's float CNN path against PyTorch. Builds the host twin of the
# firmware driver for the float MLPerf Tiny models (mcu/CMakeLists.txt), then
# tools/py/tflite_to_torch.py rebuilds each model in PyTorch from the .tflite weights
# and requires the same outputs (within 1e-4) on the driver's deterministic inputs.
# usage: torch_check.sh BUILD_DIR ASSETS_DIR PYTHON ; exit 77 = skipped.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="$1"
ASSETS="$2"
PY="$3"
if [ ! -d "$ASSETS/cnn/mlperf-tiny" ]; then
    echo "SKIPPED: $ASSETS/cnn/mlperf-tiny not found (shared assets)"
    exit 77
fi
if ! "$PY" -c "import torch" 2>/dev/null; then
    echo "SKIPPED: $PY has no torch (Debian python3-torch)"
    exit 77
fi
mkdir -p "$BUILD"
cmake -S "$ROOT/mcu" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DFR_ASSETS="$ASSETS" \
    -DFW_MODELS="ic_f;kws_f" -DFW_INPUTS=2 >"$BUILD/cmake.log" 2>&1 || { cat "$BUILD/cmake.log"; exit 1; }
cmake --build "$BUILD" -j2 >"$BUILD/build.log" 2>&1 || { tail -n 40 "$BUILD/build.log"; exit 1; }
M="$ASSETS/cnn/mlperf-tiny"
"$PY" "$ROOT/tools/py/tflite_to_torch.py" "$M/ic/pretrainedResnet.tflite" \
    --check "$BUILD/fw_ic_f" --check-name ic_f
"$PY" "$ROOT/tools/py/tflite_to_torch.py" "$M/kws/kws_ref_model_float32.tflite" \
    --check "$BUILD/fw_kws_f" --check-name kws_f
# ONNX export works with this torch (no onnx package needed); when the benchmark's npm
# peer is installed (bench/cnn/setup_peers.sh), ONNX Runtime must agree with torch too.
ORT_CHECK=()
if command -v node >/dev/null 2>&1 && [ -d "$ROOT/bench/peers/cnn/node_modules/onnxruntime-node" ]; then
    ORT_CHECK=(--check-ort)
else
    echo "note: onnxruntime-node not installed (bench/cnn/setup_peers.sh): ONNX Runtime not checked"
fi
"$PY" "$ROOT/tools/py/tflite_to_torch.py" "$M/kws/kws_ref_model_float32.tflite" --onnx "$BUILD/kws.onnx" "${ORT_CHECK[@]}"
# Bad input: a one-line error naming the file, exit 1.
printf 'not a model' >"$BUILD/bad.tflite"
if "$PY" "$ROOT/tools/py/tflite_to_torch.py" "$BUILD/bad.tflite" 2>"$BUILD/bad.err"; then
    echo "tflite_to_torch.py accepted a bad file"; exit 1
fi
grep -q "bad.tflite" "$BUILD/bad.err" || { echo "error does not name the file:"; cat "$BUILD/bad.err"; exit 1; }
echo "cnn_torch_check: frugal float == PyTorch"
