#!/usr/bin/python3
"""SentencePiece-style (llama "spm") tokenizer, written for frugal's Python tooling.

Algorithm (the one llama.cpp and llama2.c use for score-based vocabularies):
  1. prepend a space (add_space_prefix) when the text is not empty, replace every
     space by U+2581;
  2. split the text into UTF-8 characters; each character is one symbol;
  3. repeatedly merge the adjacent pair whose concatenation is a vocabulary piece with
     the highest score (ties: the leftmost pair), until no pair merges;
  4. a symbol that is a vocabulary piece gives its id; any other symbol becomes one
     byte token <0xNN> per UTF-8 byte.

Vocabularies: a llama2.c tokenizer file (int32 max_len, then per token float32 score,
int32 len, bytes; spaces in pieces stand for U+2581) or the tokenizer.ggml.* keys of a
GGUF file.

Command line:
  spm_tokenize.py --vocab tok512.bin [--bos] "text"      -> ids on one line
  spm_tokenize.py --vocab tok512.bin --decode "1 403 .."  -> text
"""
import argparse
import re
import struct
import sys

SP = "\u2581"
_CHUNK_RE = re.compile("\u2581+[^\u2581]*|[^\u2581]+", re.S)

TYPE_NORMAL = 1
TYPE_UNKNOWN = 2
TYPE_CONTROL = 3
TYPE_BYTE = 6


class Vocab:
    """pieces: list of str (with U+2581 for spaces); scores: list of float; types: list of int."""

    def __init__(self, pieces, scores, types, bos=1, eos=2, unk=0, add_space_prefix=True):
        self.pieces = list(pieces)
        self.scores = [float(s) for s in scores]
        self.types = list(types)
        self.bos = bos
        self.eos = eos
        self.unk = unk
        self.add_space_prefix = add_space_prefix
        self.index = {}
        for i, p in enumerate(self.pieces):
            self.index.setdefault(p, i)
        self.byte_id = {}
        for i, p in enumerate(self.pieces):
            if self.types[i] == TYPE_BYTE and len(p) == 6 and p.startswith("<0x") and p.endswith(">"):
                self.byte_id[int(p[3:5], 16)] = i
        # chunking at "non-space followed by space" boundaries is exact when no mergeable
        # piece has a U+2581 after a non-U+2581 character
        self.chunk_safe = all(SP not in p.lstrip(SP) for p in self.index)
        self._cache = {}

    def __len__(self):
        return len(self.pieces)

    # ---------------------------------------------------------------- encoding
    def _encode_symbols(self, text):
        """Steps 2-4 on an already space-replaced string."""
        syms = list(text)
        if not syms:
            return []
        index = self.index
        scores = self.scores
        while True:
            best = None
            best_score = None
            for i in range(len(syms) - 1):
                tid = index.get(syms[i] + syms[i + 1])
                if tid is not None and (best is None or scores[tid] > best_score):
                    best = i
                    best_score = scores[tid]
            if best is None:
                break
            syms[best:best + 2] = [syms[best] + syms[best + 1]]
        out = []
        for s in syms:
            tid = index.get(s)
            if tid is not None:
                out.append(tid)
            else:
                for b in s.encode("utf-8"):
                    out.append(self.byte_id.get(b, self.unk))
        return out

    def encode(self, text, bos=False, eos=False):
        """Encodes a str (or UTF-8 bytes) into a list of ids."""
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8", errors="replace")
        ids = [self.bos] if bos else []
        if text:
            if self.add_space_prefix:
                text = " " + text
            text = text.replace(" ", SP)
            if self.chunk_safe:
                ids.extend(self._encode_chunked(text))
            else:
                ids.extend(self._encode_symbols(text))
        if eos:
            ids.append(self.eos)
        return ids

    def _encode_chunked(self, text):
        # Merges can never join a non-U+2581 character with a following U+2581, so the
        # text splits there into independent chunks (a run of U+2581 and the non-U+2581
        # characters after it); chunks repeat a lot (words), so their ids are cached.
        out = []
        cache = self._cache
        for m in _CHUNK_RE.finditer(text):
            chunk = m.group(0)
            r = cache.get(chunk)
            if r is None:
                r = self._encode_symbols(chunk)
                if len(cache) < 2000000:
                    cache[chunk] = r
            out.extend(r)
        return out

    # ---------------------------------------------------------------- decoding
    def piece_bytes(self, tid):
        if tid < 0 or tid >= len(self.pieces):
            return b""
        t = self.types[tid]
        p = self.pieces[tid]
        if t == TYPE_CONTROL:
            return b""
        if t == TYPE_BYTE:
            return bytes([int(p[3:5], 16)])
        return p.replace(SP, " ").encode("utf-8")

    def decode(self, ids, strip_leading_space=True):
        b = b"".join(self.piece_bytes(t) for t in ids)
        s = b.decode("utf-8", errors="replace")
        if strip_leading_space and self.add_space_prefix and s.startswith(" "):
            s = s[1:]
        return s


def load_llama2c(path):
    """Loads a llama2.c tokenizer file. Ids 0,1,2 are <unk>, <s>, </s>; pieces '<0xNN>' are bytes."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 4:
        raise ValueError("%s: too short for a llama2.c tokenizer" % path)
    off = 4
    pieces, scores, types = [], [], []
    while off < len(data):
        if off + 8 > len(data):
            raise ValueError("%s: truncated token header at offset %d" % (path, off))
        score, n = struct.unpack_from("<fi", data, off)
        off += 8
        if n < 0 or off + n > len(data):
            raise ValueError("%s: bad token length %d at offset %d" % (path, n, off))
        raw = data[off:off + n].decode("utf-8", errors="replace")
        off += n
        i = len(pieces)
        if i == 0:
            pieces.append("<unk>"); types.append(TYPE_UNKNOWN)
        elif i == 1:
            pieces.append("<s>"); types.append(TYPE_CONTROL)
        elif i == 2:
            pieces.append("</s>"); types.append(TYPE_CONTROL)
        elif len(raw) == 6 and raw.startswith("<0x") and raw.endswith(">"):
            pieces.append(raw); types.append(TYPE_BYTE)
        else:
            pieces.append(raw.replace(" ", SP)); types.append(TYPE_NORMAL)
        scores.append(score)
    return Vocab(pieces, scores, types)


def load_gguf_vocab(path):
    import frugal_gguf
    g = frugal_gguf.read(path, load_tensors=False)
    md = g.metadata
    pieces = md["tokenizer.ggml.tokens"]
    scores = md.get("tokenizer.ggml.scores", [0.0] * len(pieces))
    types = md.get("tokenizer.ggml.token_type", [TYPE_NORMAL] * len(pieces))
    return Vocab(pieces, scores, types,
                 bos=md.get("tokenizer.ggml.bos_token_id", 1),
                 eos=md.get("tokenizer.ggml.eos_token_id", 2),
                 unk=md.get("tokenizer.ggml.unknown_token_id", 0),
                 add_space_prefix=md.get("tokenizer.ggml.add_space_prefix", True))


def load(path):
    if path.endswith(".gguf"):
        return load_gguf_vocab(path)
    return load_llama2c(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", required=True, help="llama2.c tokenizer .bin or a .gguf")
    ap.add_argument("--bos", action="store_true", help="prepend BOS when encoding")
    ap.add_argument("--decode", action="store_true", help="decode space-separated ids instead")
    ap.add_argument("text")
    a = ap.parse_args()
    try:
        v = load(a.vocab)
    except (OSError, ValueError, KeyError) as e:
        print("spm_tokenize: %s" % e, file=sys.stderr)
        return 1
    if a.decode:
        sys.stdout.write(v.decode([int(x) for x in a.text.split()]) + "\n")
    else:
        print(" ".join(str(i) for i in v.encode(a.text, bos=a.bos)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
