#!/usr/bin/python3
"""What it would take for speculative decoding to pay: the cost of a target pass over n
tokens relative to one token, for the bundled target and for larger (random-weight) models
with the same 512-token vocabulary, and the speedup the cost model then predicts for a draft
with a given acceptance.

    /usr/bin/python3 bench/spec/scaling.py [--build build/specbench] [--dims 256 768]

Random weights say nothing about acceptance, only about time: the larger models are written
as llama2.c checkpoints (numpy, seeded), converted with `frugal convert-llama2c --type q8_0`
into BUILD/models/, and timed with `bench_spec --profile-verify` (median of 15 passes per
batch size). The predicted speedup of the best gamma is

    max over gamma of  E(gamma) / (gamma * t_draft / t_verify(1) + t_verify(gamma+1) / t_verify(1))

with E(gamma) = (1 - a^(gamma+1)) / (1 - a), as in src/spec/controller.h.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
TOK = os.path.normpath(os.path.join(ROOT, "..", "shared", "assets", "llm", "tok512.bin"))


def write_llama2c(path, dim, hidden, n_layers, n_heads, vocab=512, seq_len=512, seed=1):
    """A legacy (v0) llama2.c checkpoint with random weights and a separate classifier."""
    rng = np.random.default_rng(seed)
    head = dim // n_heads
    with open(path, "wb") as f:
        np.array([dim, hidden, n_layers, n_heads, n_heads, -vocab, seq_len], dtype=np.int32).tofile(f)

        def rand(*shape, scale=None):
            s = scale if scale is not None else 1.0 / np.sqrt(shape[-1])
            (rng.standard_normal(shape, dtype=np.float32) * np.float32(s)).tofile(f)

        rand(vocab, dim, scale=1.0)                      # token embedding
        np.ones((n_layers, dim), np.float32).tofile(f)   # rms_att
        for _ in range(4):                               # wq, wk, wv, wo
            for _ in range(n_layers):
                rand(dim, dim)
        np.ones((n_layers, dim), np.float32).tofile(f)   # rms_ffn
        for shape in ((hidden, dim), (dim, hidden), (hidden, dim)):  # w1, w2, w3
            for _ in range(n_layers):
                rand(*shape)
        np.ones(dim, np.float32).tofile(f)               # rms_final
        pos = np.arange(seq_len, dtype=np.float32)[:, None]
        freqs = 1.0 / (10000.0 ** (np.arange(0, head, 2, dtype=np.float32) / head))
        ang = pos * freqs[None, :]
        np.cos(ang).astype(np.float32).tofile(f)
        np.sin(ang).astype(np.float32).tofile(f)
        rand(vocab, dim)                                 # classifier


def profile(exe, model, threads, isa):
    out = subprocess.run([exe, "-m", model, "-P", os.path.join(HERE, "prompts", "story_1.txt"), "--profile-verify",
                          "-n", "16", "-t", str(threads), "--isa", str(isa), "--passes", "0", "-o", "/dev/stdout"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"scaling.py: bench_spec failed on {model}: {out.stderr[-400:]}")
    t = {}
    for line in out.stdout.splitlines():
        r = json.loads(line)
        if r.get("type") == "profile" and r["model"] == "target":
            t[r["batch"]] = r["seconds"]
    return t


def best_speedup(t, a, draft_ratio, gmax=8):
    best = (1.0, 0)
    for g in range(1, gmax + 1):
        e = (1 - a ** (g + 1)) / (1 - a)
        cost = g * draft_ratio + t[g + 1] / t[1]
        best = max(best, (e / cost, g))
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "specbench"))
    ap.add_argument("--bench-exe", default=None)
    ap.add_argument("--target", default=os.path.join(ROOT, "models", "frugal-tiny.gguf"))
    ap.add_argument("--dims", type=int, nargs="+", default=[768], help="widths of the random models")
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("-t", "--threads", type=int, default=1)
    ap.add_argument("--isa", type=int, default=-1)
    ap.add_argument("--draft-ratio", type=float, default=0.05,
                    help="draft time per token / target single-token pass, for the prediction")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "scaling.json"))
    a = ap.parse_args()
    exe = a.bench_exe or os.path.join(a.build, "bin", "bench_spec")
    frugal = os.path.join(a.build, "bin", "frugal")
    models = [("bundled target", a.target)]
    for dim in a.dims:
        gguf = os.path.join(a.build, "models", f"random-d{dim}-l{a.layers}-q8_0.gguf")
        if not os.path.exists(gguf):
            os.makedirs(os.path.dirname(gguf), exist_ok=True)
            raw = gguf[:-5] + ".bin"
            write_llama2c(raw, dim, (dim * 8 // 3 + 31) // 32 * 32, a.layers, max(1, dim // 64))
            r = subprocess.run([frugal, "convert-llama2c", raw, TOK, gguf, "--type", "q8_0"], capture_output=True, text=True)
            os.remove(raw)
            if r.returncode != 0:
                sys.exit(f"scaling.py: conversion failed: {r.stderr.strip()}")
        models.append((f"random dim {dim}, {a.layers} layers, q8_0 ({os.path.getsize(gguf) / 1e6:.0f} MB)", gguf))
    rows = []
    print("| target | t(1) | t(2)/t(1) | t(5)/t(1) | t(9)/t(1) | best speedup a=0.6 | a=0.8 | a=0.9 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, path in models:
        t = profile(exe, path, a.threads, a.isa)
        sp = {x: best_speedup(t, x, a.draft_ratio) for x in (0.6, 0.8, 0.9)}
        rows.append({"model": name, "path": os.path.relpath(path, ROOT), "t": t,
                     "speedup": {str(k): v for k, v in sp.items()}})
        print(f"| {name} | {t[1] * 1e3:.3f} ms | {t[2] / t[1]:.2f} | {t[5] / t[1]:.2f} | {t[9] / t[1]:.2f} | "
              + " | ".join(f"{sp[x][0]:.2f}x (gamma {sp[x][1]})" for x in (0.6, 0.8, 0.9)) + " |")
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump({"threads": a.threads, "isa": a.isa, "draft_ratio": a.draft_ratio, "models": rows}, f, indent=1)


if __name__ == "__main__":
    main()
