#!/usr/bin/python3
"""The bundled models (models/frugal-tiny.gguf, models/frugal-tiny-draft.gguf,
models/frugal-small.gguf and its drafts frugal-small-draft.gguf, frugal-small-draft-mini.gguf): valid
llama GGUFs with the tok512 vocabulary (so stories260K can draft for them), the expected
tensor types, and greedy text from "Once upon a time" that is English words."""
import os
import re
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import frugal_gguf  # noqa: E402
import llama_ref  # noqa: E402
import spm_tokenize  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
ASSETS = os.environ.get("FR_ASSETS", os.path.join(ROOT, "..", "shared", "assets"))
FAILS = []
COMMON = {"the", "a", "was", "and", "to", "he", "she", "they", "it", "said", "her", "his", "with",
          "day", "time", "there", "play", "happy", "little", "big", "in", "of", "saw", "one"}


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what)


def test_model(name, qtype):
    path = os.path.join(ROOT, "models", name)
    if not os.path.exists(path):
        check(False, "%s is missing" % path)
        return
    g = frugal_gguf.read(path)
    md = g.metadata
    check(md["general.architecture"] == "llama", "%s: architecture" % name)
    check(md["tokenizer.ggml.bos_token_id"] == 1 and md["tokenizer.ggml.eos_token_id"] == 2, "bos/eos")
    for t in g.tensors:
        want = qtype if len(t.ne) == 2 else frugal_gguf.F32
        check(t.type == want, "%s: %s has type %d" % (name, t.name, t.type))
    v = spm_tokenize.load(path)
    tok = os.path.join(ASSETS, "llm", "tok512.bin")
    if os.path.exists(tok):
        ref = spm_tokenize.load(tok)
        check(v.pieces == ref.pieces and v.scores == ref.scores, "%s: vocabulary is tok512" % name)
    m = llama_ref.from_gguf(path, dtype=torch.float32)
    ids = llama_ref.generate_greedy(m, v.encode("Once upon a time", bos=True), 48)
    text = v.decode(ids, strip_leading_space=False)
    print("%s: Once upon a time%s" % (name, text.replace("\n", "\\n")))
    words = re.findall(r"[A-Za-z']+", text.lower())
    common = sum(1 for w in words if w in COMMON)
    check(len(words) >= 8, "%s: too few words" % name)
    check(common >= 3, "%s: text does not look like English (%d common words)" % (name, common))


def main():
    torch.set_num_threads(1)
    for name in ("frugal-tiny.gguf", "frugal-tiny-draft.gguf", "frugal-small.gguf",
                 "frugal-small-draft.gguf", "frugal-small-draft-mini.gguf"):
        test_model(name, frugal_gguf.Q8_0)
    if FAILS:
        print("%d failure(s)" % len(FAILS))
        return 1
    print("test_models: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
