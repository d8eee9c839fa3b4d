#!/usr/bin/python3
"""spm_tokenize: reproduces llama.cpp's own test vectors for the Llama SentencePiece
vocabulary (ggml-vocab-llama-spm.gguf .inp/.out, read with frugal_gguf), encodes tok512
text so that it decodes back exactly, and the word-chunk cache gives the same ids as the
plain merge loop. Needs ../shared/assets (prints SKIPPED for parts when it is absent)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import spm_tokenize  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
ASSETS = os.environ.get("FR_ASSETS", os.path.join(ROOT, "..", "shared", "assets"))
FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what)


def test_llamacpp_vectors():
    base = os.path.join(ASSETS, "llm", "vocab", "ggml-vocab-llama-spm.gguf")
    if not os.path.exists(base):
        print("SKIPPED: %s not found" % base)
        return
    v = spm_tokenize.load(base)
    inp = open(base + ".inp", encoding="utf-8").read().split("\n__ggml_vocab_test__\n")
    out = open(base + ".out", encoding="utf-8").read().split("\n")
    if inp and inp[-1] == "":
        inp = inp[:-1]
    check(len(inp) >= len(out) - 1, "vector count %d vs %d" % (len(inp), len(out)))
    n = 0
    for i, (text, ids) in enumerate(zip(inp, out)):
        want = [int(t) for t in ids.split()]
        got = v.encode(text)
        check(got == want, "vector %d %r: got %s want %s" % (i, text, got, want))
        n += 1
    print("llama.cpp vectors: %d compared" % n)


def test_tok512():
    path = os.path.join(ASSETS, "llm", "tok512.bin")
    if not os.path.exists(path):
        print("SKIPPED: %s not found" % path)
        return
    v = spm_tokenize.load(path)
    check(len(v) == 512, "tok512 has 512 tokens")
    check(v.encode("Once upon a time", bos=True) == [1, 403, 407, 261, 378], "Once upon a time")
    texts = ["Once upon a time, there was a little girl named Lily.\n\nShe said: \"Hi!\"",
             "caf\u00e9 \u65e5\u672c \U0001F999  two  spaces\ttab\r\n", "", " ", "a"]
    for t in texts:
        ids = v.encode(t)
        check(v.decode(ids) == t, "round trip %r" % t)
        v.chunk_safe = False
        check(v.encode(t) == ids, "chunked == plain for %r" % t)
        v.chunk_safe = True
    check(v.encode("\u65e5")[1:] == [0xE6 + 3, 0x97 + 3, 0xA5 + 3], "byte fallback")


def main():
    test_llamacpp_vectors()
    test_tok512()
    if FAILS:
        print("%d failure(s)" % len(FAILS))
        return 1
    print("test_spm_tokenize: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
