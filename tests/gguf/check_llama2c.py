#!/usr/bin/python3
"""Independent check of a `frugal convert-llama2c` output, written without frugal's code.

usage: check_llama2c.py OUT.gguf MODEL.bin TOKENIZER.bin

Parses the GGUF file with its own reader (struct + numpy), checks the layout rules llama.cpp
relies on (version 3, aligned tensor data inside the file, no overlap), the llama metadata,
the vocabulary against tokenizer.bin, and every tensor against the llama2.c v0 checkpoint:
f32 bit-exact, f16 equal to numpy's float16 rounding, q8_0/q4_0 within a quantisation step.
Exits 0 when everything matches, 1 with a message otherwise.
"""
import struct
import sys

import numpy as np

VT = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class Reader:
    def __init__(self, data):
        self.d, self.p = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.d, self.p)
        self.p += struct.calcsize(fmt)
        return v[0]

    def string(self):
        n = self.take("<Q")
        s = self.d[self.p:self.p + n]
        if len(s) != n:
            raise ValueError("string past end")
        self.p += n
        return s

    def value(self, t):
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.take("<I"), self.take("<Q")
            return [self.value(et) for _ in range(n)]
        return self.take(VT[t])


def parse_gguf(path):
    data = open(path, "rb").read()
    r = Reader(data)
    if data[:4] != b"GGUF":
        raise ValueError("bad magic")
    r.p = 4
    version, n_t, n_kv = r.take("<I"), r.take("<Q"), r.take("<Q")
    kv = {}
    for _ in range(n_kv):
        k = r.string().decode()
        t = r.take("<I")
        kv[k] = (t, r.value(t))
    tensors = []
    for _ in range(n_t):
        name = r.string().decode()
        nd = r.take("<I")
        ne = [r.take("<Q") for _ in range(nd)]
        tensors.append((name, ne, r.take("<I"), r.take("<Q")))
    align = kv.get("general.alignment", (4, 32))[1]
    start = (r.p + align - 1) // align * align
    return data, version, kv, tensors, align, start


def fail(msg):
    print("check_llama2c: " + msg)
    sys.exit(1)


def tensor_bytes(ttype, ne):
    n = int(np.prod(ne))
    return {0: 4 * n, 1: 2 * n, 8: n // 32 * 34, 2: n // 32 * 18}[ttype]


def dequant(ttype, raw, n):
    if ttype == 8:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 34)
        d = b[:, :2].copy().view(np.float16).astype(np.float32)
        q = b[:, 2:].copy().view(np.int8).astype(np.float32)
        return (q * d).reshape(-1)
    if ttype == 2:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 18)
        d = b[:, :2].copy().view(np.float16).astype(np.float32)
        qs = b[:, 2:]
        lo = (qs & 0x0F).astype(np.float32) - 8
        hi = (qs >> 4).astype(np.float32) - 8
        return (np.concatenate([lo, hi], axis=1) * d).reshape(-1)
    raise ValueError(ttype)


def main():
    out, model, tok = sys.argv[1:4]
    data, version, kv, tensors, align, start = parse_gguf(out)
    if version != 3:
        fail("version %d" % version)
    # layout: aligned, inside the file, no overlap
    spans = []
    for name, ne, ttype, off in tensors:
        size = tensor_bytes(ttype, ne)
        if off % align or start + off + size > len(data):
            fail("tensor %s misplaced" % name)
        spans.append((off, off + size, name))
    spans.sort()
    for a, b in zip(spans, spans[1:]):
        if a[1] > b[0]:
            fail("tensors %s and %s overlap" % (a[2], b[2]))

    hdr = np.fromfile(model, dtype=np.int32, count=7)
    dim, hid, nl, nh, nkv, voc, seq = [int(x) for x in hdr]
    shared = voc > 0
    voc = abs(voc)
    kvd = dim // nh * nkv
    w = np.fromfile(model, dtype=np.float32, offset=28)
    at = 0

    def take(*shape):
        nonlocal at
        n = int(np.prod(shape))
        a = w[at:at + n].reshape(shape)
        at += n
        return a

    emb = take(voc, dim)
    rms_att, wq, wk, wv = take(nl, dim), take(nl, dim, dim), take(nl, kvd, dim), take(nl, kvd, dim)
    wo, rms_ffn = take(nl, dim, dim), take(nl, dim)
    w1, w2, w3 = take(nl, hid, dim), take(nl, dim, hid), take(nl, hid, dim)
    rms_final = take(dim)
    take(seq, dim // nh // 2)
    take(seq, dim // nh // 2)
    want = {"token_embd.weight": emb, "output_norm.weight": rms_final}
    if not shared:
        want["output.weight"] = take(voc, dim)
    if at != w.size:
        fail("model size does not match its header")
    for l in range(nl):
        for key, arr in (("attn_norm", rms_att), ("attn_q", wq), ("attn_k", wk), ("attn_v", wv),
                         ("attn_output", wo), ("ffn_norm", rms_ffn), ("ffn_gate", w1),
                         ("ffn_down", w2), ("ffn_up", w3)):
            want["blk.%d.%s.weight" % (l, key)] = arr[l]

    expect_kv = {
        "general.architecture": b"llama", "llama.embedding_length": dim, "llama.block_count": nl,
        "llama.feed_forward_length": hid, "llama.attention.head_count": nh,
        "llama.attention.head_count_kv": nkv, "llama.context_length": seq,
        "llama.rope.dimension_count": dim // nh, "tokenizer.ggml.model": b"llama",
        "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2,
        "tokenizer.ggml.unknown_token_id": 0,
    }
    for k, v in expect_kv.items():
        if k not in kv or kv[k][1] != v:
            fail("key %s is %r, want %r" % (k, kv.get(k), v))
    if abs(kv["llama.attention.layer_norm_rms_epsilon"][1] - 1e-5) > 1e-9:
        fail("rms epsilon")

    # vocabulary, read straight from tokenizer.bin
    tb = open(tok, "rb").read()
    p = 4
    toks, scores = [], []
    for _ in range(voc):
        s, n = struct.unpack_from("<fi", tb, p)
        p += 8
        toks.append(tb[p:p + n])
        scores.append(s)
        p += n
    toks[1], toks[2] = b"<s>", b"</s>"
    toks = [t.replace(b" ", "\u2581".encode()) for t in toks]
    if kv["tokenizer.ggml.tokens"][1] != toks:
        fail("token texts differ")
    if kv["tokenizer.ggml.scores"][1] != [float(np.float32(s)) for s in scores]:
        fail("token scores differ")
    ttypes = kv["tokenizer.ggml.token_type"][1]
    for i, t in enumerate(toks):
        wt = 2 if i == 0 else 3 if i in (1, 2) else 6 if (len(t) == 6 and t.startswith(b"<0x")) else 1
        if ttypes[i] != wt:
            fail("token %d type %d, want %d" % (i, ttypes[i], wt))

    names = {t[0] for t in tensors}
    if names != set(want):
        fail("tensor names differ: %s" % sorted(names ^ set(want)))
    for name, ne, ttype, off in tensors:
        src = want[name]
        shape = list(reversed(src.shape))
        if ne != shape:
            fail("%s shape %s, want %s" % (name, ne, shape))
        raw = data[start + off:start + off + tensor_bytes(ttype, ne)]
        flat = src.reshape(-1)
        if ttype == 0:
            if not np.array_equal(np.frombuffer(raw, dtype=np.float32), flat):
                fail("%s f32 values differ" % name)
        elif ttype == 1:
            if not np.array_equal(np.frombuffer(raw, dtype=np.uint16), flat.astype(np.float16).view(np.uint16)):
                fail("%s f16 values differ from numpy's rounding" % name)
        else:
            got = dequant(ttype, raw, flat.size)
            amax = np.abs(flat.reshape(-1, 32)).max(axis=1).repeat(32)
            step = amax / (127.0 if ttype == 8 else 8.0)
            tol = (0.57 if ttype == 8 else 1.01) * step + 1e-6
            if not np.all(np.abs(got - flat) <= tol):
                fail("%s quantised values too far from the source" % name)
    print("check_llama2c: %s ok (%d tensors)" % (out, len(tensors)))


if __name__ == "__main__":
    main()
