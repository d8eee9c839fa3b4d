#!/usr/bin/python3
"""llama_ref: its logits equal a separately written, loop-based numpy float64 Llama
(adjacent-pair RoPE, GQA, partial rope dimension, tied and untied output); the KV-cache
path equals the full pass; make_test_model.py writes a GGUF whose R.bin logits this
recomputes; stories260K (llama2.c .bin) gives the same logits as its GGUF export written
by frugal_gguf and greedily generates the well-known "Once upon a time ... Lily" story."""
import math
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import frugal_gguf  # noqa: E402
import llama_ref  # noqa: E402
import spm_tokenize  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
ASSETS = os.environ.get("FR_ASSETS", os.path.join(ROOT, "..", "shared", "assets"))
FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what)


def naive_forward(W, cfg, tokens):
    """Straight from the GGUF llama definition, one token and one head at a time."""
    d, H, KV = cfg.dim, cfg.n_heads, cfg.n_kv_heads
    hd = d // H
    rd = cfg.rope_dim

    def rms(x, w):
        return x / math.sqrt(float(np.mean(x * x)) + cfg.eps) * w

    def rope(v, pos):
        v = v.copy()
        for i in range(rd // 2):
            th = pos * cfg.rope_base ** (-2.0 * i / rd)
            a, b = v[2 * i], v[2 * i + 1]
            v[2 * i] = a * math.cos(th) - b * math.sin(th)
            v[2 * i + 1] = a * math.sin(th) + b * math.cos(th)
        return v
    T = len(tokens)
    xs = [W["token_embd.weight"][t].copy() for t in tokens]
    for l in range(cfg.n_layers):
        p = "blk.%d." % l
        ks, vs, qs = [], [], []
        for pos in range(T):
            h = rms(xs[pos], W[p + "attn_norm.weight"])
            q = W[p + "attn_q.weight"] @ h
            k = W[p + "attn_k.weight"] @ h
            v = W[p + "attn_v.weight"] @ h
            qs.append([rope(q[j * hd:(j + 1) * hd], pos) for j in range(H)])
            ks.append([rope(k[j * hd:(j + 1) * hd], pos) for j in range(KV)])
            vs.append([v[j * hd:(j + 1) * hd] for j in range(KV)])
        for pos in range(T):
            o = np.zeros(d)
            for j in range(H):
                kvh = j // (H // KV)
                s = np.array([qs[pos][j] @ ks[t][kvh] / math.sqrt(hd) for t in range(pos + 1)])
                s = np.exp(s - s.max())
                s /= s.sum()
                o[j * hd:(j + 1) * hd] = sum(s[t] * vs[t][kvh] for t in range(pos + 1))
            xs[pos] = xs[pos] + W[p + "attn_output.weight"] @ o
        for pos in range(T):
            h = rms(xs[pos], W[p + "ffn_norm.weight"])
            g = W[p + "ffn_gate.weight"] @ h
            u = W[p + "ffn_up.weight"] @ h
            xs[pos] = xs[pos] + W[p + "ffn_down.weight"] @ (g / (1 + np.exp(-g)) * u)
    out = W.get("output.weight", W["token_embd.weight"])
    return np.stack([out @ rms(x, W["output_norm.weight"]) for x in xs])


def test_naive():
    rng = np.random.default_rng(3)
    for tied, rope_dim in ((False, None), (True, 8)):
        cfg = llama_ref.Config(dim=48, n_layers=2, n_heads=6, n_kv_heads=2, hidden=40, vocab=37,
                               ctx=16, eps=1e-5, rope_base=500.0, rope_dim=rope_dim, tied=tied)
        m = llama_ref.Llama(cfg, dtype=torch.float64)
        W = {}
        for name, a in m.gguf_tensors():
            W[name] = (1.0 + 0.1 * rng.standard_normal(a.shape)) if a.ndim == 1 else \
                0.3 * rng.standard_normal(a.shape)
        m.load_named(W)
        tokens = [1, 5, 9, 36, 0, 7, 7]
        ref = naive_forward(W, cfg, tokens)
        got = llama_ref.logits_all(m, tokens).numpy()
        err = np.abs(ref - got).max()
        check(err < 1e-10, "llama_ref vs naive (tied=%s rope_dim=%s): max err %g" % (tied, rope_dim, err))
        # KV cache, token by token, equals the full pass
        cache = [None] * cfg.n_layers
        rows = []
        with torch.no_grad():
            for i, t in enumerate(tokens):
                rows.append(m(torch.tensor([[t]]), i, cache)[0, -1].numpy())
        err = np.abs(np.stack(rows) - got).max()
        check(err < 1e-10, "KV cache vs full pass: max err %g" % err)


def test_make_test_model(tmp):
    for typ, tied in (("f32", 0), ("q8_0", 1), ("q4_0", 0), ("f16", 1)):
        g = os.path.join(tmp, "m.gguf")
        r = os.path.join(tmp, "r.bin")
        cmd = [sys.executable, os.path.join(HERE, "..", "make_test_model.py"), "--out", g, "--ref", r,
               "--dim", "64", "--n-layers", "2", "--n-heads", "4", "--n-kv-heads", "2", "--hidden", "96",
               "--vocab", "300", "--ctx", "64", "--type", typ, "--tied", str(tied), "--seed", "9",
               "--n-tokens", "12"]
        p = subprocess.run(cmd, capture_output=True, text=True)
        check(p.returncode == 0, "make_test_model %s: %s" % (typ, p.stderr))
        if p.returncode:
            continue
        data = open(r, "rb").read()
        check(data[:8] == b"FRREF001", "R.bin magic")
        n, V = struct.unpack_from("<ii", data, 8)
        check((n, V) == (12, 300), "R.bin sizes")
        check(len(data) == 16 + 4 * n + 4 * n * V, "R.bin length")
        toks = list(np.frombuffer(data, "<i4", n, 16))
        check(toks[0] == 1, "R.bin starts with BOS")
        logits = np.frombuffer(data, "<f4", n * V, 16 + 4 * n).reshape(n, V)
        gf = frugal_gguf.read(g)
        md = gf.metadata
        check(md["general.architecture"] == "llama", "architecture")
        check(len(md["tokenizer.ggml.tokens"]) == 300, "vocab size")
        check(("output.weight" in [t.name for t in gf.tensors]) == (not tied), "tied output")
        want_t = frugal_gguf.TYPE_NAMES[typ]
        for t in gf.tensors:
            check(t.type == (want_t if len(t.ne) == 2 else frugal_gguf.F32), "type of %s" % t.name)
        m = llama_ref.from_gguf(g)
        again = llama_ref.logits_all(m, toks).numpy()
        check(np.abs(again - logits).max() < 1e-5, "R.bin logits recompute (%s)" % typ)
        check(0.1 < float(np.std(logits)) < 10, "logits are O(1) (%s): std %g" % (typ, np.std(logits)))


def test_stories260k(tmp):
    path = os.path.join(ASSETS, "llm", "stories260K.bin")
    tok = os.path.join(ASSETS, "llm", "tok512.bin")
    if not os.path.exists(path):
        print("SKIPPED: %s not found" % path)
        return
    m = llama_ref.from_llama2c(path)
    vocab = spm_tokenize.load(tok)
    g = os.path.join(tmp, "s.gguf")
    frugal_gguf.write_llama(g, m.cfg, m.gguf_tensors(), vocab, "f32", name="stories260K")
    m2 = llama_ref.from_gguf(g)
    toks = [1, 403, 407, 261, 378, 432, 383]
    a = llama_ref.logits_all(m, toks).numpy()
    b = llama_ref.logits_all(m2, toks).numpy()
    check(np.array_equal(a, b), "stories260K .bin vs its f32 GGUF export")
    ids = llama_ref.generate_greedy(m, [1], 40, stop_at_eos=False)
    text = vocab.decode(ids)
    check(text.startswith("Once upon a time, there was a little girl named Lily."), "story: %r" % text)


def main():
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        test_naive()
        test_make_test_model(tmp)
        test_stories260k(tmp)
    if FAILS:
        print("%d failure(s)" % len(FAILS))
        return 1
    print("test_llama_ref: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
