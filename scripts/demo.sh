#!/usr/bin/env bash
# Builds frugal and generates text with the bundled models: a story from the default model
# (models/frugal-tiny.gguf), then speculative decoding on the bundled speculative pair
# (target models/frugal-small.gguf, draft models/frugal-small-draft.gguf, plus prompt
# lookup), which prints its statistics and its speedup over the target's plain rate
# measured in the same process. Installs the Debian packages it needs first (gcc, cmake,
# libpng) and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
fr_need_packages build-essential cmake pkg-config libpng-dev
echo "frugal: building (Release) in build/demo/" >&2
cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=Release -DFR_TESTS=OFF >/dev/null
cmake --build build/demo -j"$(nproc)" >/dev/null
PROMPT="${1:-Once upon a time}"
set -x
# One thread: frugal-tiny is small enough to stay in the CPU caches, where waking a second
# thread for a pass costs more than it saves; the speculative comparison uses one thread too.
build/demo/bin/frugal generate -m models/frugal-tiny.gguf -p "$PROMPT" -n 200 --temp 0 -t 1
build/demo/bin/frugal generate -m models/frugal-small.gguf --draft models/frugal-small-draft.gguf --lookup \
    -p "$PROMPT" -n 200 --temp 0 -t 1
