#!/usr/bin/python3
"""What it would take for speculative decoding to pay: the cost of a target pass over n
tokens relative to one token, for the bundled target and for larger (random-weight) models
with the same 512-token vocabulary, and the speedup the cost model then predicts for a draft
with a given acceptance.

    /usr/bin/python3 bench/spec/scaling.py [--build build/specbench] [--dims 256 768]
    /usr/bin/python3 bench/spec/scaling.py --ab new=build/a/bin/bench_spec old=/tmp/b/bench_spec \
        [--passes 5] [--draft models/frugal-tiny-draft.gguf]

The second form compares bench_spec binaries (builds) instead: it profiles the bundled target
(and the draft) with each, alternating the builds pass by pass (A B A B ..., the first one
rotating), and prints t(n)/t(1) for n = 1..9 and the median single-token times per build.

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


def profile(exe, model, threads, isa, draft=None, which="target"):
    """{batch: seconds} of `which` ("target", or "d0" for the draft), or with which=None
    {model name: {batch: seconds}} of every model profiled."""
    cmd = [exe, "-m", model, "-P", os.path.join(HERE, "prompts", "story_1.txt"), "--profile-verify",
           "-n", "16", "-t", str(threads), "--isa", str(isa), "--passes", "0", "-o", "/dev/stdout"]
    if draft:
        cmd += ["-d", draft]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"scaling.py: bench_spec failed on {model}: {out.stderr[-400:]}")
    t = {}
    for line in out.stdout.splitlines():
        r = json.loads(line)
        if r.get("type") == "profile":
            t.setdefault(r["model"], {})[r["batch"]] = r["seconds"]
    return t if which is None else t[which]


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def ab(a):
    """Alternated passes of several bench_spec builds; t(n)/t(1) tables of the medians."""
    builds = []
    for spec in a.ab:
        label, _, exe = spec.partition("=")
        if not exe or not os.path.exists(exe):
            sys.exit(f"scaling.py: --ab {spec}: expected LABEL=PATH to a bench_spec binary")
        builds.append((label, exe))
    samples = {label: {} for label, _ in builds}  # label -> model -> batch -> [seconds]
    for p in range(a.passes):
        order = builds[p % len(builds):] + builds[:p % len(builds)]
        for label, exe in order:
            for model, t in profile(exe, a.target, a.threads, a.isa, a.draft, None).items():
                for b, sec in t.items():
                    samples[label].setdefault(model, {}).setdefault(b, []).append(sec)
    nmax = 9
    print(f"t(n)/t(1), medians of {a.passes} alternated passes (each a median of 15 passes per batch size), "
          f"{a.threads} thread(s)\n")
    print("| build | model | t(1) | " + " | ".join(f"n={n}" for n in range(2, nmax + 1)) + " |")
    print("|---|---|---:|" + "---:|" * (nmax - 1))
    med_t = {}
    for label, _ in builds:
        for model, bt in samples[label].items():
            t = {b: median(v) for b, v in bt.items()}
            med_t[(label, model)] = t
            print(f"| {label} | {model} | {t[1] * 1e3:.4f} ms | "
                  + " | ".join(f"{t[n] / t[1]:.2f}" for n in range(2, nmax + 1)) + " |")
    if len(builds) > 1:
        ref = builds[-1][0]
        print(f"\nPass time relative to {ref}, t_build(n) / t_{ref}(n):\n")
        print("| build | model | " + " | ".join(f"n={n}" for n in range(1, nmax + 1)) + " |")
        print("|---|---|" + "---:|" * nmax)
        for label, _ in builds[:-1]:
            for model in samples[label]:
                t, r = med_t[(label, model)], med_t[(ref, model)]
                print(f"| {label} | {model} | " + " | ".join(f"{t[n] / r[n]:.2f}" for n in range(1, nmax + 1)) + " |")
    out = {label: {m: {str(b): v for b, v in bt.items()} for m, bt in samples[label].items()} for label, _ in builds}
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump({"threads": a.threads, "isa": a.isa, "passes": a.passes, "builds": dict(builds), "seconds": out},
                  f, indent=1)


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
    ap.add_argument("--out", default=None, help="JSON results (default results/scaling.json, "
                    "results/scaling-ab.json with --ab)")
    ap.add_argument("--ab", nargs="+", metavar="LABEL=BENCH_SPEC",
                    help="compare bench_spec builds on the bundled target (and --draft) instead")
    ap.add_argument("--draft", default=None, help="with --ab: also profile this draft model")
    ap.add_argument("--passes", type=int, default=5, help="with --ab: alternated passes per build")
    a = ap.parse_args()
    if a.out is None:
        a.out = os.path.join(HERE, "results", "scaling-ab.json" if a.ab else "scaling.json")
    if a.ab:
        ab(a)
        return
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
