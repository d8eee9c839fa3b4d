#!/bin/sh
# Builds bench_spec with the speculative decoder (src/spec, include/frugal_spec.h and
# bench/spec/bench_spec.c) of an earlier git revision, linked with the current build's
# libfrugal otherwise: an A/B of a change to the controllers on the same kernels.
#   bench/spec/build_baseline.sh [REV] [BUILD]   (defaults: HEAD, build/specbench, built already)
# Writes BUILD/baseline/bench_spec, for
#   /usr/bin/python3 bench/spec/run.py --compare-exe BUILD/baseline/bench_spec --compare-label REV
# Only reads the repository (git show); nothing in the working tree is modified.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
REV=${1:-HEAD}
BUILD=${2:-$ROOT/build/specbench}
OUT=$BUILD/baseline
rm -rf "$OUT"
mkdir -p "$OUT/src/spec" "$OUT/include"
for f in src/spec/controller.c src/spec/controller.h src/spec/spec.c src/spec/lookup.c src/spec/lookup.h \
         include/frugal_spec.h bench/spec/bench_spec.c; do
    git -C "$ROOT" show "$REV:$f" > "$OUT/$(basename "$f")"
done
mv "$OUT/controller.h" "$OUT/lookup.h" "$OUT/src/spec/"
mv "$OUT/frugal_spec.h" "$OUT/include/"
cp "$ROOT/include/frugal.h" "$OUT/include/" # so that its #include "frugal_spec.h" finds the revision's
# the revision's own public spec header first, the current tree for everything else
INC="-I$OUT/include -I$OUT/src -I$ROOT/include -I$ROOT/src"
CFLAGS="-std=c11 -O3 -DNDEBUG -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $INC"
for f in controller spec lookup; do cc $CFLAGS -c "$OUT/$f.c" -o "$OUT/$f.c.o"; done
cp "$BUILD/src/libfrugal.a" "$OUT/libfrugal.a"
(cd "$OUT" && ar r libfrugal.a controller.c.o spec.c.o lookup.c.o)
cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $INC "$OUT/bench_spec.c" "$OUT/libfrugal.a" -lm -lpthread \
    -o "$OUT/bench_spec"
echo "$OUT/bench_spec"
