#!/bin/sh
# Builds bench_spec against libfrugal with the proposed changes to src/spec (applied to copies;
# nothing in src/ is modified):
#   bench/spec/proposal-cost-model.patch       (src/spec/controller.c: robust cost estimates)
#   bench/spec/proposal-draft-confidence.patch (src/spec/spec.c: drafts stop below p = 0.8)
# Writes BUILD/proposal/bench_spec (both changes) and BUILD/proposal/bench_spec_cost (the cost
# model only), for  /usr/bin/python3 bench/spec/run.py --proposal-exe BUILD/proposal/bench_spec
# Usage: bench/spec/build_proposal.sh [BUILD] (default build/specbench, built already)
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build/specbench}
OUT=$BUILD/proposal
CFLAGS="-std=c11 -O3 -DNDEBUG -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I$ROOT/include -I$ROOT/src"
mkdir -p "$OUT"
patch -s -o "$OUT/controller.c" "$ROOT/src/spec/controller.c" "$ROOT/bench/spec/proposal-cost-model.patch"
patch -s -o "$OUT/spec.c" "$ROOT/src/spec/spec.c" "$ROOT/bench/spec/proposal-draft-confidence.patch"
cc $CFLAGS -c "$OUT/controller.c" -o "$OUT/controller.c.o"
cc $CFLAGS -c "$OUT/spec.c" -o "$OUT/spec.c.o"
cp "$BUILD/src/libfrugal.a" "$OUT/libfrugal_cost.a"
(cd "$OUT" && ar r libfrugal_cost.a controller.c.o && cp libfrugal_cost.a libfrugal.a && ar r libfrugal.a spec.c.o)
for v in "" _cost; do
    cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I"$ROOT/include" "$ROOT/bench/spec/bench_spec.c" \
        "$OUT/libfrugal$v.a" -lm -lpthread -o "$OUT/bench_spec$v"
done
echo "$OUT/bench_spec $OUT/bench_spec_cost"
