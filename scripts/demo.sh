#!/usr/bin/env bash
# Builds frugal and generates text with the bundled model (models/). Installs the Debian
# packages it needs first (gcc, cmake) and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
fr_need_packages build-essential cmake pkg-config
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DFR_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
PROMPT="${1:-Once upon a time}"
echo "\$ build/bin/frugal generate -m models/frugal-tiny.gguf -p \"$PROMPT\" -n 200" >&2
exec build/bin/frugal generate -m models/frugal-tiny.gguf -p "$PROMPT" -n 200
