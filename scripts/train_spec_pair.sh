#!/bin/bash
# Trains the speculative-decoding pair of docs/training.md ("The small pair"): the target
# frugal-small.gguf (~29M parameters, q8_0) on the corpus, then two drafts distilled from it
# at once (frugal-small-draft.gguf, the shape of frugal-tiny, ~2.6M parameters, and
# frugal-small-draft-mini.gguf, ~1M), each on half corpus windows and half text the target
# wrote.
#
#   scripts/train_spec_pair.sh [OUTDIR]          (default build/spec_pair)
#
# Meant for a CUDA GPU (DEVICE=cuda, the default; bf16 autocast): there the whole run takes
# about 8 minutes. DEVICE=cpu works but takes days with Debian's torch. Budgets are wall-clock
# (T_MIN for the target, D_MIN for each draft), so a rerun on another GPU sees a different
# number of steps; the logs say how many. Environment: PY (python with torch, default
# /usr/bin/python3), DATA (tokenised corpus, default build/pytools/data, built from
# ../shared/corpus on first use), VOCAB (default ../shared/assets/llm/tok512.bin).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build/spec_pair}
PY=${PY:-/usr/bin/python3}
DEVICE=${DEVICE:-cuda}
T_MIN=${T_MIN:-3}
D_MIN=${D_MIN:-3}
DATA=${DATA:-build/pytools/data}
VOCAB=${VOCAB:-../shared/assets/llm/tok512.bin}
amp=()
[ "$DEVICE" = cuda ] && amp=(--bf16)
mkdir -p "$dir"
common=(--device "$DEVICE" "${amp[@]}" --data "$DATA" --vocab "$VOCAB" --export-every 0.75)

echo "== target: frugal-small ($T_MIN min on $DEVICE)"
"$PY" tools/py/train_llama.py --preset small --out "$dir/frugal-small.gguf" --ckpt "$dir/small.pt" \
    "${common[@]}" --story-frac 0.15 --keep-best --minutes "$T_MIN"

echo "== drafts distilled from it ($D_MIN min each, in parallel)"
distil() { # PRESET SEED: a draft of that preset, distilled from the target just trained
    "$PY" tools/py/train_llama.py --preset "$1" --out "$dir/frugal-$1.gguf" --ckpt "$dir/$1.pt" \
        "${common[@]}" --teacher "$dir/frugal-small.gguf" \
        --gen-frac 0.5 --gen-rows 8192 --pool-batch 256 --seed "$2" --minutes "$D_MIN"
}
distil small-draft 11 &
p1=$!
distil small-draft-mini 12 &
p2=$!
wait $p1
wait $p2
ls -la "$dir"/*.gguf
