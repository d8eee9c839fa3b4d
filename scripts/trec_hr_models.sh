#!/bin/sh
# The CifarNet-HR models of docs/trec_training.md ("CifarNet-HR"), trained and exported by
# the project's own tooling in one command (CPU only, about an hour on 2 cores):
#   1. the dense net from scratch, 8 epochs (2 threads);
#   2. from it, E more epochs (default 2), all in parallel, one thread each, 5000 training
#      images held out: conv2 as a pixel-mode TREC layer (L = in_c = 32, learned
#      projections) for each of the hash bits HS (default 8,9,10), and the dense net itself
#      (the honest baseline: the same epochs);
#   3. exports (int8 + float TFLite, sidecars) into build/trec_models/export, all in one
#      bench group whose dense baseline is the dense fine-tune: the TREC fine-tunes, and
#      post-training pixel sidecars (H = 8, 9, 10, 12) on the dense fine-tune;
#   4. build/trec_models/export/index.json, which bench/trec/run.py reads.
# Steps whose output exists are skipped (delete a file to redo it). Training is
# deterministic: the same commands give the same checkpoints on the same machine.
# usage: scripts/trec_hr_models.sh [BUILD_DIR (default build/rel, for bin/frugal)] [E] [HS]
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build/rel}
E=${2:-2}
HS=${3:-8,9,10}
PY=/usr/bin/python3
M=build/trec_models
X=$M/export
TT="nice -n 5 $PY tools/py/trec_train.py"
mkdir -p "$M/logs" "$X"
[ -x "$BUILD/bin/frugal" ] || { echo "trec_hr_models.sh: $BUILD/bin/frugal not found (build first)" >&2; exit 1; }

DENSE=$M/cifarnet_hr_dense_e8.pt
if [ ! -f "$DENSE" ]; then
    echo "== dense CifarNet-HR, 8 epochs"
    $TT dense --net cifarnet_hr --from scratch --epochs 8 --lr 0.05 --tag dense_e8 --threads 2 \
        > "$M/logs/cifarnet_hr_dense_e8.log" 2>&1
fi

DFT=$M/cifarnet_hr_dense_e8_ft$E.pt
pids=""
for H in $(echo "$HS" | tr , ' '); do
    [ -f "$M/cifarnet_hr_conv2_pix_H${H}_e8ft$E.pt" ] && continue
    echo "== TREC fine-tune (conv2, pixel mode, H $H), $E epochs"
    $TT trec --net cifarnet_hr --from "$DENSE" --layers conv2 --L c --H "$H" --pixel --epochs "$E" \
        --lr 0.02 --lr-proj 0.01 --holdout 5000 --threads 1 --tag "conv2_pix_H${H}_e8ft$E" \
        > "$M/logs/cifarnet_hr_conv2_pix_H${H}_e8ft$E.log" 2>&1 &
    pids="$pids $!"
done
if [ ! -f "$DFT" ]; then
    echo "== dense fine-tune, $E epochs (the baseline)"
    $TT dense --net cifarnet_hr --from "$DENSE" --epochs "$E" --lr 0.02 --holdout 5000 \
        --threads 1 --tag "dense_e8_ft$E" > "$M/logs/cifarnet_hr_dense_e8_ft$E.log" 2>&1 &
    pids="$pids $!"
fi
for p in $pids; do wait "$p"; done

GROUP=cifarnet_hr_e8ft$E
export_one() { # checkpoint tag [extra export options]
    ck=$1 tag=$2
    shift 2
    [ -f "$X/$tag.json" ] && return 0
    echo "== export $tag"
    $PY tools/py/export_cifar.py cifarnet_hr "$ck" "$X/$tag" --float --tag "$tag" \
        --group "$GROUP" --dense "cifarnet_hr_dense_e8_ft$E" --frugal "$BUILD/bin/frugal" "$@" \
        > "$M/logs/export_$tag.log" 2>&1
}
export_one "$DFT" "cifarnet_hr_dense_e8_ft$E"
for H in $(echo "$HS" | tr , ' '); do
    export_one "$M/cifarnet_hr_conv2_pix_H${H}_e8ft$E.pt" "cifarnet_hr_conv2_pix_H${H}_e8ft$E"
done
for h in 8 9 10 12; do
    export_one "$DFT" "cifarnet_hr_conv2_pix_H${h}_ptq" --ptq "conv2=32:$h" --ptq-pixel
done
$PY tools/py/export_cifar.py index "$X"
echo "done: $X/index.json (bench/trec/run.py --build $BUILD)"
