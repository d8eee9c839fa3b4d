#!/usr/bin/python3
"""A plain PyTorch Llama with GGUF "llama" semantics: frugal's independent reference.

Per layer: x += Wo attn(rope(Wq rms(x)), rope(Wk rms(x)), Wv rms(x));
           x += Wdown (silu(Wgate rms(x)) * Wup rms(x)); then a final RMSNorm and the
output matrix (output.weight, or token_embd.weight when it is absent: tied).
RMSNorm: x * rsqrt(mean(x^2) + eps) * w.  RoPE rotates ADJACENT pairs (x[2i], x[2i+1])
by pos * freq_base^(-2i/rope_dim) for i < rope_dim/2 (GGUF/ggml "normal" rope mode).
Grouped-query attention: head h reads kv head h // (n_heads / n_kv_heads). Causal
softmax with scale 1/sqrt(head_dim).

Weights are kept as (out, in) matrices, i.e. numpy's view of a GGUF tensor with
ne = [in, out]; y = W @ x.

Loaders: from_gguf (every tensor dequantised to float) and from_llama2c (a llama2.c v0
.bin checkpoint, read directly so the reference does not depend on frugal's converter).
"""
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


class Config:
    def __init__(self, dim, n_layers, n_heads, n_kv_heads, hidden, vocab, ctx=512,
                 eps=1e-5, rope_base=10000.0, rope_dim=None, tied=False):
        self.dim = int(dim)
        self.n_layers = int(n_layers)
        self.n_heads = int(n_heads)
        self.n_kv_heads = int(n_kv_heads)
        self.hidden = int(hidden)
        self.vocab = int(vocab)
        self.ctx = int(ctx)
        self.eps = float(np.float32(eps))  # stored as float32 in GGUF and llama2.c
        self.rope_base = float(np.float32(rope_base))
        self.head_dim = self.dim // self.n_heads
        self.rope_dim = int(rope_dim) if rope_dim else self.head_dim
        self.tied = bool(tied)
        if self.dim % self.n_heads or self.n_heads % self.n_kv_heads:
            raise ValueError("dim %d, n_heads %d, n_kv_heads %d are inconsistent"
                             % (self.dim, self.n_heads, self.n_kv_heads))
        if self.rope_dim % 2 or self.rope_dim > self.head_dim:
            raise ValueError("rope dimension %d is not even or exceeds head_dim %d"
                             % (self.rope_dim, self.head_dim))

    @property
    def kv_dim(self):
        return self.n_kv_heads * self.head_dim

    def as_dict(self):
        return dict(dim=self.dim, n_layers=self.n_layers, n_heads=self.n_heads,
                    n_kv_heads=self.n_kv_heads, hidden=self.hidden, vocab=self.vocab,
                    ctx=self.ctx, eps=self.eps, rope_base=self.rope_base,
                    rope_dim=self.rope_dim, tied=self.tied)


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope_tables(cfg, positions, dtype):
    """cos/sin of shape (T, rope_dim/2) for integer positions."""
    half = cfg.rope_dim // 2
    i = torch.arange(half, dtype=torch.float64)
    inv = cfg.rope_base ** (-2.0 * i / cfg.rope_dim)
    ang = positions.to(torch.float64)[:, None] * inv.to(positions.device)[None, :]
    return torch.cos(ang).to(dtype), torch.sin(ang).to(dtype)


def apply_rope(x, cos, sin, rope_dim):
    """x: (B, T, H, head_dim); rotates adjacent pairs of the first rope_dim dims."""
    xr = x[..., :rope_dim]
    shp = xr.shape
    xr = xr.reshape(*shp[:-1], rope_dim // 2, 2)
    x0 = xr[..., 0]
    x1 = xr[..., 1]
    c = cos[None, :, None, :]
    s = sin[None, :, None, :]
    y = torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).reshape(shp)
    if rope_dim == x.shape[-1]:
        return y
    return torch.cat((y, x[..., rope_dim:]), dim=-1)


class Llama(nn.Module):
    """Parameters are named after the GGUF tensors with '.' -> '_' inside a layer."""

    def __init__(self, cfg, dtype=torch.float32):
        super().__init__()
        self.cfg = cfg
        d, kv, h, V = cfg.dim, cfg.kv_dim, cfg.hidden, cfg.vocab
        P = lambda *s: nn.Parameter(torch.zeros(*s, dtype=dtype))  # noqa: E731
        self.token_embd = P(V, d)
        self.layers = nn.ModuleList()
        for _ in range(cfg.n_layers):
            L = nn.Module()
            L.attn_norm = P(d)
            L.attn_q = P(d, d)
            L.attn_k = P(kv, d)
            L.attn_v = P(kv, d)
            L.attn_output = P(d, d)
            L.ffn_norm = P(d)
            L.ffn_gate = P(h, d)
            L.ffn_up = P(h, d)
            L.ffn_down = P(d, h)
            self.layers.append(L)
        self.output_norm = P(d)
        self.output = None if cfg.tied else P(V, d)

    # ------------------------------------------------------------------ init
    def init_random(self, gen, std=0.02):
        """Normal init for training (scaled residual projections), norms at 1."""
        with torch.no_grad():
            for name, p in self.named_parameters():
                if p.dim() == 1:
                    p.fill_(1.0)
                else:
                    s = std
                    if name.endswith("attn_output") or name.endswith("ffn_down"):
                        s = std / math.sqrt(2 * self.cfg.n_layers)
                    p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * s)

    def out_weight(self):
        return self.token_embd if self.output is None else self.output

    # ------------------------------------------------------------------ forward
    def forward(self, tokens, start_pos=0, cache=None):
        """tokens: (B, T) int64. Returns logits (B, T, V).

        cache: None (a full causal pass from start_pos) or a list of per-layer
        [k, v] tensors (B, T_past, n_kv, head_dim) that is extended in place."""
        cfg = self.cfg
        B, T = tokens.shape
        x = self.token_embd[tokens]
        dev = tokens.device
        pos = torch.arange(start_pos, start_pos + T, device=dev)
        cos, sin = rope_tables(cfg, pos, x.dtype)
        H, KV, hd = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        rep = H // KV
        for li, L in enumerate(self.layers):
            hN = rms_norm(x, L.attn_norm, cfg.eps)
            q = (hN @ L.attn_q.t()).view(B, T, H, hd)
            k = (hN @ L.attn_k.t()).view(B, T, KV, hd)
            v = (hN @ L.attn_v.t()).view(B, T, KV, hd)
            q = apply_rope(q, cos, sin, cfg.rope_dim)
            k = apply_rope(k, cos, sin, cfg.rope_dim)
            if cache is not None:
                if cache[li] is not None:
                    k = torch.cat((cache[li][0], k), dim=1)
                    v = torch.cat((cache[li][1], v), dim=1)
                cache[li] = [k, v]
            Tk = k.shape[1]
            qh = q.permute(0, 2, 1, 3)                       # B H T hd
            kh = k.permute(0, 2, 1, 3).repeat_interleave(rep, dim=1)  # B H Tk hd
            vh = v.permute(0, 2, 1, 3).repeat_interleave(rep, dim=1)
            att = (qh @ kh.transpose(-1, -2)) * (1.0 / math.sqrt(hd))
            past = Tk - T
            qi = torch.arange(T, device=dev)[:, None] + past
            ki = torch.arange(Tk, device=dev)[None, :]
            att = att.masked_fill(ki > qi, float("-inf"))
            att = torch.softmax(att, dim=-1)
            o = (att @ vh).permute(0, 2, 1, 3).reshape(B, T, H * hd)
            x = x + o @ L.attn_output.t()
            hN = rms_norm(x, L.ffn_norm, cfg.eps)
            f = F.silu(hN @ L.ffn_gate.t()) * (hN @ L.ffn_up.t())
            x = x + f @ L.ffn_down.t()
        x = rms_norm(x, self.output_norm, cfg.eps)
        return x @ self.out_weight().t()

    # ------------------------------------------------------------------ tensors
    def gguf_tensors(self):
        """(name, numpy float32 (out, in) array) in GGUF naming and order."""
        out = [("token_embd.weight", self.token_embd)]
        for i, L in enumerate(self.layers):
            for n in ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                      "ffn_norm", "ffn_gate", "ffn_down", "ffn_up"):
                out.append(("blk.%d.%s.weight" % (i, n), getattr(L, n)))
        out.append(("output_norm.weight", self.output_norm))
        if self.output is not None:
            out.append(("output.weight", self.output))
        return [(n, t.detach().cpu().to(torch.float32).numpy()) for n, t in out]

    def load_named(self, arrays):
        """arrays: dict GGUF name -> numpy array of shape (out, in) (or (n,))."""
        with torch.no_grad():
            def put(p, name):
                a = arrays[name]
                if tuple(a.shape) != tuple(p.shape):
                    raise ValueError("tensor %s has shape %s, expected %s"
                                     % (name, tuple(a.shape), tuple(p.shape)))
                p.copy_(torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)))
            put(self.token_embd, "token_embd.weight")
            for i, L in enumerate(self.layers):
                for n in ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                          "ffn_norm", "ffn_gate", "ffn_down", "ffn_up"):
                    put(getattr(L, n), "blk.%d.%s.weight" % (i, n))
            put(self.output_norm, "output_norm.weight")
            if self.output is not None:
                put(self.output, "output.weight")


# ---------------------------------------------------------------------- loaders
def from_gguf(path, dtype=torch.float64):
    """Loads a llama GGUF (any tensor type frugal_gguf can dequantise)."""
    import frugal_gguf
    g = frugal_gguf.read(path)
    md = g.metadata
    arch = md.get("general.architecture")
    if arch != "llama":
        raise ValueError("%s: general.architecture is %r, expected 'llama'" % (path, arch))

    def key(k, default=None):
        v = md.get("llama." + k, default)
        if v is None:
            raise ValueError("%s: missing metadata key llama.%s" % (path, k))
        return v
    arrays = {t.name: g.tensor_array(t.name).astype(np.float64) for t in g.tensors}
    emb = arrays.get("token_embd.weight")
    if emb is None:
        raise ValueError("%s: missing tensor token_embd.weight" % path)
    dim = key("embedding_length")
    n_heads = key("attention.head_count")
    cfg = Config(dim=dim, n_layers=key("block_count"), n_heads=n_heads,
                 n_kv_heads=key("attention.head_count_kv", n_heads),
                 hidden=key("feed_forward_length"), vocab=emb.shape[0],
                 ctx=key("context_length", 2048),
                 eps=key("attention.layer_norm_rms_epsilon", 1e-5),
                 rope_base=key("rope.freq_base", 10000.0),
                 rope_dim=key("rope.dimension_count", dim // n_heads),
                 tied="output.weight" not in arrays)
    m = Llama(cfg, dtype=dtype)
    m.load_named(arrays)
    return m


def from_llama2c(path, dtype=torch.float64):
    """Loads a llama2.c v0 checkpoint (.bin, float32, header of 7 int32)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 28:
        raise ValueError("%s: too short for a llama2.c checkpoint" % path)
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = struct.unpack_from("<7i", data, 0)
    shared = vocab > 0
    vocab = abs(vocab)
    if min(dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len) <= 0:
        raise ValueError("%s: bad header values" % path)
    cfg = Config(dim=dim, n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_kv,
                 hidden=hidden, vocab=vocab, ctx=seq_len, eps=1e-5, tied=shared)
    hd = dim // n_heads
    kv = n_kv * hd
    L = n_layers
    floats = np.frombuffer(data, dtype="<f4", offset=28)
    off = [0]

    def take(*shape):
        n = int(np.prod(shape))
        if off[0] + n > floats.size:
            raise ValueError("%s: truncated (needs more than %d floats)" % (path, floats.size))
        a = floats[off[0]:off[0] + n].reshape(shape)
        off[0] += n
        return a
    arrays = {"token_embd.weight": take(vocab, dim)}
    parts = {}
    parts["attn_norm"] = take(L, dim)
    parts["attn_q"] = take(L, dim, dim)
    parts["attn_k"] = take(L, kv, dim)
    parts["attn_v"] = take(L, kv, dim)
    parts["attn_output"] = take(L, dim, dim)
    parts["ffn_norm"] = take(L, dim)
    parts["ffn_gate"] = take(L, hidden, dim)   # w1
    parts["ffn_down"] = take(L, dim, hidden)   # w2
    parts["ffn_up"] = take(L, hidden, dim)     # w3
    arrays["output_norm.weight"] = take(dim)
    take(seq_len, hd // 2)  # freq_cis_real (unused: RoPE is recomputed)
    take(seq_len, hd // 2)  # freq_cis_imag
    if not shared:
        arrays["output.weight"] = take(vocab, dim)
    for n, a in parts.items():
        for i in range(L):
            arrays["blk.%d.%s.weight" % (i, n)] = a[i]
    m = Llama(cfg, dtype=dtype)
    m.load_named(arrays)
    return m


def load(path, dtype=torch.float64):
    if path.endswith(".gguf"):
        return from_gguf(path, dtype)
    return from_llama2c(path, dtype)


@torch.no_grad()
def logits_all(model, tokens):
    """Logits at every position of one causal pass over tokens (list of ints)."""
    t = torch.tensor([tokens], dtype=torch.long, device=model.token_embd.device)
    return model(t)[0]


@torch.no_grad()
def generate_greedy(model, prompt, n, eos=2, stop_at_eos=True):
    """Greedy continuation of prompt (list of ids) with a KV cache; returns new ids."""
    cache = [None] * model.cfg.n_layers
    dev = model.token_embd.device
    logits = model(torch.tensor([prompt], dtype=torch.long, device=dev), 0, cache)[0, -1]
    pos = len(prompt)
    out = []
    for _ in range(n):
        nxt = int(torch.argmax(logits))
        if stop_at_eos and nxt == eos:
            break
        out.append(nxt)
        logits = model(torch.tensor([[nxt]], dtype=torch.long, device=dev), pos, cache)[0, -1]
        pos += 1
    return out
