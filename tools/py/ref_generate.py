#!/usr/bin/python3
"""Greedy reference generation with llama_ref (float64, KV cache).

  ref_generate.py --gguf M.gguf | --llama2c M.bin --prompt-ids "1 403 ..." -n 200 [--ignore-eos]

Prints the generated ids (not the prompt) space-separated on one line. Without
--ignore-eos it stops after EOS (id 2, or tokenizer.ggml.eos_token_id), which is not
printed. Generation also stops at the model's context length.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_ref  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--gguf")
    src.add_argument("--llama2c")
    ap.add_argument("--prompt-ids", required=True)
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--ignore-eos", action="store_true")
    ap.add_argument("--text", action="store_true", help="also print the decoded text (needs --vocab)")
    ap.add_argument("--vocab", default=None, help="tokenizer for --text (GGUF or llama2.c .bin)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    path = a.gguf or a.llama2c
    try:
        prompt = [int(x) for x in a.prompt_ids.split()]
        if not prompt:
            raise ValueError("--prompt-ids: empty")
        eos = 2
        if a.gguf:
            model = llama_ref.from_gguf(a.gguf, dtype=torch.float64)
            import frugal_gguf
            eos = frugal_gguf.read(a.gguf).metadata.get("tokenizer.ggml.eos_token_id", 2)
        else:
            model = llama_ref.from_llama2c(a.llama2c, dtype=torch.float64)
        V = model.cfg.vocab
        if any(t < 0 or t >= V for t in prompt):
            raise ValueError("--prompt-ids: id out of range 0..%d" % (V - 1))
        n = max(0, min(a.n, model.cfg.ctx - len(prompt)))
        ids = llama_ref.generate_greedy(model, prompt, n, eos=eos, stop_at_eos=not a.ignore_eos)
    except (ValueError, OSError, KeyError) as e:
        print("ref_generate: %s: %s" % (path, e), file=sys.stderr)
        return 1
    print(" ".join(str(i) for i in ids))
    if a.text:
        import spm_tokenize
        v = spm_tokenize.load(a.vocab or a.gguf)
        print(v.decode(prompt + ids))
    return 0


if __name__ == "__main__":
    sys.exit(main())
