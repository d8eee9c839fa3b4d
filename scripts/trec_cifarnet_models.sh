#!/bin/sh
# The CifarNet models of bench group cifarnet_e22 (docs/trec_training.md, "Channel groups"),
# trained and exported by the project's own tooling in one command (CPU only, about an hour on
# 2 cores):
#   1. the dense net from scratch, 10 epochs (2 threads), then 6 more epochs with 5000
#      training images held out (cifarnet_dense_e10_ft6, 16 epochs: about converged);
#   2. from it, 6 more epochs, in parallel, one thread each: conv2 (5x5, 64 -> 64) as a
#      pixel-mode TREC layer with four channel groups of 16 (H = 8, learned projections),
#      and the dense net itself (the baseline);
#   3. exports (int8 + float TFLite, sidecars) into build/trec_models/export, group
#      cifarnet_e22 against the dense net of 22 epochs, and index.json for bench/trec/run.py.
# Steps whose output exists are skipped (delete a file to redo it). Training is
# deterministic: the same commands give the same checkpoints on the same machine.
# usage: scripts/trec_cifarnet_models.sh [BUILD_DIR (default build/rel, for bin/frugal)]
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build/rel}
NET=cifarnet
X=build/trec_models/export
GROUP=cifarnet_e22
DENSE_TAG=cifarnet_dense_e16_ft6
. scripts/trec_lib.sh
trec_lib_init

train dense_e10 dense --from scratch --epochs 10 --lr 0.05 --threads 2
train dense_e10_ft6 dense --from "$M/cifarnet_dense_e10.pt" --epochs 6 --lr 0.02 --holdout 5000 \
    --threads 1
D=$M/cifarnet_dense_e10_ft6.pt
FT="--from $D --epochs 6 --lr 0.02 --holdout 5000 --threads 1"
train conv2_pixG4_H8_e16ft6 trec $FT --layers conv2 --L 16 --H 8 --pixel --lr-proj 0.01 &
p1=$!
train dense_e16_ft6 dense $FT
wait $p1

export_one "$M/cifarnet_dense_e16_ft6.pt" "$DENSE_TAG"
export_one "$M/cifarnet_conv2_pixG4_H8_e16ft6.pt" cifarnet_conv2_pixG4_H8_e16ft6
trec_lib_index
