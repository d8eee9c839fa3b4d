#!/usr/bin/env bash
# Installs what the tests need (Debian packages), builds frugal three ways and runs every test:
#   1. Release build, all CTest tests;
#   2. AddressSanitizer + UndefinedBehaviorSanitizer build, all CTest tests;
#   3. clang libFuzzer targets, each fuzzed for FR_FUZZ_SECONDS (default 60) from its seed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
fr_need_packages build-essential cmake pkg-config libcmocka-dev libpng-dev clang libclang-rt-14-dev \
    python3-torch python3-numpy python3-pil gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
JOBS="$(nproc)"
FUZZ_SECONDS="${FR_FUZZ_SECONDS:-60}"

echo "== release build + tests"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$JOBS" >/dev/null
(cd build/release && ctest --output-on-failure -j"$JOBS")

echo "== ASan + UBSan build + tests"
cmake -S . -B build/sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFR_SANITIZE=ON >/dev/null
cmake --build build/sanitize -j"$JOBS" >/dev/null
(cd build/sanitize && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -j"$JOBS")

echo "== libFuzzer targets (${FUZZ_SECONDS}s each)"
CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFR_FUZZ=ON -DFR_TESTS=OFF >/dev/null
cmake --build build/fuzz -j"$JOBS" >/dev/null
for t in build/fuzz/fuzz/fuzz_*; do
    name="$(basename "$t")"
    corpus="build/fuzz/corpus-$name"
    mkdir -p "$corpus"
    [ -d "fuzz/seeds/${name#fuzz_}" ] && cp -n fuzz/seeds/"${name#fuzz_}"/* "$corpus"/ 2>/dev/null || true
    echo "-- $name"
    "$t" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -print_final_stats=0 "$corpus" 2>&1 | tail -n 3
done
echo "all tests passed"
