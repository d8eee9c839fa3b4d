#!/usr/bin/python3
"""Writes a random-weight llama GGUF and the reference logits of one forward pass.

  make_test_model.py --out M.gguf --ref R.bin --dim 64 --n-layers 2 --n-heads 4
      --n-kv-heads 2 --hidden 96 --vocab 300 --ctx 64 --type f32|f16|q8_0|q4_0
      --tied 0|1 --seed S --n-tokens 12 [--rope-base 10000] [--eps 1e-5]

The GGUF has all llama.* hyper-parameter keys and a SentencePiece-style vocabulary of
exactly --vocab tokens: <unk>, <s>, </s>, the 256 byte tokens <0x00>..<0xFF> (type 6),
then filler pieces (U+2581 a, U+2581 b, ..., a, b, ...) with decreasing scores.
2-D matrices are stored as --type, norms as f32.

R.bin (little-endian): 8 bytes "FRREF001", int32 n_tokens, int32 n_vocab,
int32 tokens[n_tokens] (tokens[0] = BOS = 1, the rest random), float32
logits[n_tokens][n_vocab]: the logits at every position of one causal forward pass from
position 0, computed in float64 from the weights as dequantised from the written GGUF.
"""
import argparse
import itertools
import os
import string
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import frugal_gguf  # noqa: E402
import llama_ref  # noqa: E402
import spm_tokenize  # noqa: E402

SP = "\u2581"


def make_vocab(n):
    if n < 259:
        raise ValueError("--vocab %d: must be at least 259 (3 control + 256 byte tokens)" % n)
    pieces = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    types = [spm_tokenize.TYPE_UNKNOWN, spm_tokenize.TYPE_CONTROL, spm_tokenize.TYPE_CONTROL] + \
        [spm_tokenize.TYPE_BYTE] * 256
    scores = [0.0] * 259
    letters = string.ascii_lowercase

    def fillers():
        for length in itertools.count(1):
            for combo in itertools.product(letters, repeat=length):
                w = "".join(combo)
                yield SP + w
                yield w
    gen = fillers()
    while len(pieces) < n:
        pieces.append(next(gen))
        types.append(spm_tokenize.TYPE_NORMAL)
        scores.append(-float(len(pieces) - 259))
    return spm_tokenize.Vocab(pieces, scores, types)


def random_model(cfg, seed):
    rng = np.random.default_rng(seed)
    m = llama_ref.Llama(cfg, dtype=torch.float32)
    arrays = {}
    for name, p in m.named_parameters():
        shape = tuple(p.shape)
        if len(shape) == 1:
            a = 1.0 + 0.1 * rng.standard_normal(shape)
        elif name == "token_embd":
            a = 0.5 * rng.standard_normal(shape)
        elif name == "output":
            a = 0.1 * rng.standard_normal(shape)
        else:
            a = 0.08 * rng.standard_normal(shape)
        arrays[name] = a.astype(np.float32)
    with torch.no_grad():
        for name, p in m.named_parameters():
            p.copy_(torch.from_numpy(arrays[name]))
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--ref", required=True)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--n-layers", type=int, default=2)
    ap.add_argument("--n-heads", type=int, default=4)
    ap.add_argument("--n-kv-heads", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=96)
    ap.add_argument("--vocab", type=int, default=300)
    ap.add_argument("--ctx", type=int, default=64)
    ap.add_argument("--type", choices=sorted(frugal_gguf.TYPE_NAMES), default="f32")
    ap.add_argument("--tied", type=int, choices=[0, 1], default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--n-tokens", type=int, default=12)
    ap.add_argument("--rope-base", type=float, default=10000.0)
    ap.add_argument("--eps", type=float, default=1e-5)
    a = ap.parse_args()
    torch.set_num_threads(1)
    try:
        if a.n_tokens < 1 or a.n_tokens > a.ctx:
            raise ValueError("--n-tokens %d: must be in 1..ctx (%d)" % (a.n_tokens, a.ctx))
        cfg = llama_ref.Config(dim=a.dim, n_layers=a.n_layers, n_heads=a.n_heads,
                               n_kv_heads=a.n_kv_heads, hidden=a.hidden, vocab=a.vocab,
                               ctx=a.ctx, eps=a.eps, rope_base=a.rope_base, tied=bool(a.tied))
        vocab = make_vocab(a.vocab)
        model = random_model(cfg, a.seed)
        frugal_gguf.write_llama(a.out, cfg, model.gguf_tensors(), vocab, a.type, name="frugal-test")
        # the reference uses the weights exactly as stored (dequantised) in the file
        ref = llama_ref.from_gguf(a.out, dtype=torch.float64)
        rng = np.random.default_rng(a.seed + 1000003)
        tokens = [1] + [int(t) for t in rng.integers(3, a.vocab, size=a.n_tokens - 1)]
        logits = llama_ref.logits_all(ref, tokens).numpy().astype("<f4")
        with open(a.ref, "wb") as f:
            f.write(b"FRREF001")
            f.write(struct.pack("<ii", len(tokens), a.vocab))
            f.write(np.asarray(tokens, dtype="<i4").tobytes())
            f.write(logits.tobytes())
    except (ValueError, OSError) as e:
        print("make_test_model: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
