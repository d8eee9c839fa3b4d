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
NET=cifarnet_hr
X=build/trec_models/export
GROUP=cifarnet_hr_e8ft$E
DENSE_TAG=cifarnet_hr_dense_e8_ft$E
. scripts/trec_lib.sh
trec_lib_init

DENSE=$M/cifarnet_hr_dense_e8.pt
train dense_e8 dense --from scratch --epochs 8 --lr 0.05 --threads 2

pids=""
for H in $(echo "$HS" | tr , ' '); do
    train "conv2_pix_H${H}_e8ft$E" trec --from "$DENSE" --layers conv2 --L c --H "$H" --pixel \
        --epochs "$E" --lr 0.02 --lr-proj 0.01 --holdout 5000 --threads 1 &
    pids="$pids $!"
done
train "dense_e8_ft$E" dense --from "$DENSE" --epochs "$E" --lr 0.02 --holdout 5000 --threads 1 &
pids="$pids $!"
for p in $pids; do wait "$p"; done

DFT=$M/cifarnet_hr_dense_e8_ft$E.pt
export_one "$DFT" "$DENSE_TAG"
for H in $(echo "$HS" | tr , ' '); do
    export_one "$M/cifarnet_hr_conv2_pix_H${H}_e8ft$E.pt" "cifarnet_hr_conv2_pix_H${H}_e8ft$E"
done
for h in 8 9 10 12; do
    export_one "$DFT" "cifarnet_hr_conv2_pix_H${h}_ptq" --ptq "conv2=32:$h" --ptq-pixel
done
trec_lib_index
