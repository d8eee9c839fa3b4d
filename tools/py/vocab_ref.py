#!/usr/bin/python3
"""Naive reference tokenizers for checking src/llm/vocab*.c (tests/llm/test_vocab.c).

Deliberately written differently from the C code, so that both agreeing means something:
  spm : SentencePiece merge by a full rescan per step: merge the adjacent pair whose
        concatenation is a token with the highest score (ties: leftmost); symbols that are
        not tokens become <0xNN> byte tokens. A space is prefixed, spaces become U+2581,
        characters are cut by UTF-8 lead-byte length (as llama.cpp does).
  bpe : GPT-2 byte-level BPE: the pre-tokenizer is Python's `re` engine running the GPT-2
        regex with \\p{L}, \\p{N} and \\s spelled out as explicit Unicode classes from
        unicodedata; each word's bytes map to the GPT-2 alphabet; the lowest-rank merge
        (ties: leftmost) is applied by a full rescan per step.

Usage: vocab_ref.py {spm|bpe} VOCAB.gguf STRINGS_FILE
  STRINGS_FILE holds UTF-8 strings separated by NUL bytes; prints one line of ids each.
"""
import re
import struct
import sys
import unicodedata


def read_gguf_kv(path):
    data = open(path, "rb").read()
    pos = [0]

    def rd(fmt):
        v = struct.unpack_from("<" + fmt, data, pos[0])
        pos[0] += struct.calcsize("<" + fmt)
        return v[0]

    def rstr():
        n = rd("Q")
        s = data[pos[0]:pos[0] + n]
        pos[0] += n
        return s

    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def value(t):
        if t == 8:
            return rstr()
        if t == 9:
            et, n = rd("I"), rd("Q")
            return [value(et) for _ in range(n)]
        return rd(scalar[t])

    if data[:4] != b"GGUF":
        raise SystemExit("%s: not a GGUF file" % path)
    pos[0] = 4
    rd("I")
    rd("Q")
    n_kv = rd("Q")
    kv = {}
    for _ in range(n_kv):
        key = rstr().decode()
        kv[key] = value(rd("I"))
    return kv


UTF8_LEN = [1] * 12 + [2, 2, 3, 4]


def spm_encode(text, t2i, scores):
    if not text:
        return []
    s = (" " + text).encode().replace(b" ", "\u2581".encode())
    syms, i = [], 0
    while i < len(s):
        n = min(UTF8_LEN[s[i] >> 4], len(s) - i)
        syms.append(s[i:i + n])
        i += n
    while True:
        best = None
        for j in range(len(syms) - 1):
            tid = t2i.get(syms[j] + syms[j + 1])
            if tid is not None and (best is None or scores[tid] > best[0]):
                best = (scores[tid], j)
        if best is None:
            break
        j = best[1]
        syms[j:j + 2] = [syms[j] + syms[j + 1]]
    out = []
    for sym in syms:
        if sym in t2i:
            out.append(t2i[sym])
        else:
            out.extend(t2i[("<0x%02X>" % b).encode()] for b in sym)
    return out


def char_class(pred):
    parts, start = [], None
    for cp in range(0x110001):
        ok = cp < 0x110000 and pred(cp)
        if ok and start is None:
            start = cp
        elif not ok and start is not None:
            parts.append((start, cp - 1))
            start = None
    esc = lambda c: "\\U%08x" % c
    return "".join(esc(a) if a == b else esc(a) + "-" + esc(b) for a, b in parts)


def gpt2_regex():
    cat = lambda cp: unicodedata.category(chr(cp))
    L = char_class(lambda cp: cat(cp)[0] == "L")
    N = char_class(lambda cp: cat(cp)[0] == "N")
    W = char_class(lambda cp: cat(cp) in ("Zs", "Zl", "Zp") or 9 <= cp <= 13 or cp == 0x85)
    return re.compile(
        "'s|'t|'re|'ve|'m|'ll|'d| ?[%s]+| ?[%s]+| ?[^%s%s%s]+|[%s]+(?![^%s])|[%s]+"
        % (L, N, W, L, N, W, W, W), re.S)


def byte_alphabet():
    keep = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, n = {b: chr(b) for b in keep}, 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + n)
            n += 1
    return table


def bpe_encode(text, pat, alphabet, ranks, t2i):
    out = []
    for word in pat.findall(text):
        syms = [alphabet[b] for b in word.encode()]
        while True:
            best = None
            for j in range(len(syms) - 1):
                r = ranks.get((syms[j], syms[j + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, j)
            if best is None:
                break
            j = best[1]
            syms[j:j + 2] = [syms[j] + syms[j + 1]]
        out.extend(t2i[s] for s in syms)
    return out


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("spm", "bpe"):
        raise SystemExit(__doc__)
    kind, gguf, strings_path = sys.argv[1:]
    kv = read_gguf_kv(gguf)
    strings = open(strings_path, "rb").read().split(b"\0")
    toks = kv["tokenizer.ggml.tokens"]
    lines = []
    if kind == "spm":
        t2i = {t: i for i, t in enumerate(toks)}
        scores = kv["tokenizer.ggml.scores"]
        for s in strings:
            lines.append(spm_encode(s.decode(), t2i, scores))
    else:
        t2i = {t.decode(): i for i, t in enumerate(toks)}
        ranks = {}
        for i, m in enumerate(kv["tokenizer.ggml.merges"]):
            a, b = m.decode().split(" ", 1)
            ranks.setdefault((a, b), i)
        pat, alphabet = gpt2_regex(), byte_alphabet()
        for s in strings:
            lines.append(bpe_encode(s.decode(), pat, alphabet, ranks, t2i))
    sys.stdout.write("".join(" ".join(map(str, ids)) + "\n" for ids in lines))


if __name__ == "__main__":
    main()
