#!/usr/bin/python3
"""Training text for frugal's small Llama models, tokenised with the tok512 vocabulary.

Sources (read from ../shared/corpus, never copied into the project):
  smallGPT/data/tiny_stories.txt            TinyStories training excerpt (stories end at a
                                             single newline; paragraphs within a story are
                                             separated by blank lines)
  moe-routing-bench/data/tinystories_val.txt TinyStories validation excerpt (blank lines
                                             everywhere; a paragraph starting "Once upon a
                                             time" starts a new story)
  Gutenberg_Text/<Author>/*.txt              children's books; the text between the
                                             "*** START OF" and "*** END OF" lines, CRLF
                                             normalised, hard-wrapped lines re-joined
Every story/document becomes BOS text EOS. The last 5% of the validation-split stories
are held out for evaluation.

  corpus.py --corpus ../shared/corpus --vocab ../shared/assets/llm/tok512.bin --out DIR
writes DIR/stories_train.npy, DIR/stories_val.npy, DIR/gutenberg.npy (uint16 ids).
"""
import argparse
import glob
import os
import re
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spm_tokenize  # noqa: E402

BOS = 1
EOS = 2


def _norm(text):
    return text.replace("\r\n", "\n").replace("\r", "\n")


def tinystories_train(path):
    text = _norm(open(path, encoding="utf-8", errors="replace").read())
    stories = []
    cur = []
    for line in text.split("\n"):
        if line.strip() == "":
            if cur and cur[-1] != "":
                cur.append("")
            continue
        # a non-empty line that directly follows a non-empty line starts a new story
        if cur and cur[-1] != "":
            stories.append("\n".join(cur).strip())
            cur = []
        cur.append(line.strip())
    if cur:
        stories.append("\n".join(cur).strip())
    return [s for s in stories if s]


def tinystories_val(path):
    text = _norm(open(path, encoding="utf-8", errors="replace").read())
    paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    stories = []
    cur = []
    for p in paras:
        if cur and (p.startswith("Once upon a time") or p.startswith("Once upon a time")):
            stories.append("\n\n".join(cur))
            cur = []
        cur.append(p)
    if cur:
        stories.append("\n\n".join(cur))
    return stories


def gutenberg_text(path):
    text = _norm(open(path, encoding="utf-8", errors="replace").read())
    lines = text.split("\n")
    start, end = 0, len(lines)
    for i, l in enumerate(lines):
        if l.startswith("*** START OF") or l.startswith("***START OF"):
            start = i + 1
            break
    for i in range(len(lines) - 1, start - 1, -1):
        if lines[i].startswith("*** END OF") or lines[i].startswith("***END OF"):
            end = i
            break
    body = "\n".join(lines[start:end])
    paras = []
    for p in re.split(r"\n\s*\n", body):
        p = " ".join(x.strip() for x in p.split("\n") if x.strip())
        p = re.sub(r"[ \t]+", " ", p).replace("_", "")
        if p:
            paras.append(p)
    return "\n\n".join(paras)


def encode_docs(vocab, docs):
    out = []
    for d in docs:
        out.append(BOS)
        out.extend(vocab.encode(d))
        out.append(EOS)
    return np.array(out, dtype=np.uint16)


def build(corpus, vocab_path, out_dir, gutenberg_max_bytes=None, log=print):
    os.makedirs(out_dir, exist_ok=True)
    vocab = spm_tokenize.load(vocab_path)
    t0 = time.time()
    tr = tinystories_train(os.path.join(corpus, "smallGPT/data/tiny_stories.txt"))
    va = tinystories_val(os.path.join(corpus, "moe-routing-bench/data/tinystories_val.txt"))
    n_hold = max(1, len(va) // 20)
    train_docs = tr + va[:-n_hold]
    val_docs = va[-n_hold:]
    st = encode_docs(vocab, train_docs)
    sv = encode_docs(vocab, val_docs)
    np.save(os.path.join(out_dir, "stories_train.npy"), st)
    np.save(os.path.join(out_dir, "stories_val.npy"), sv)
    log("stories: %d train docs %d tokens, %d val docs %d tokens (%.1fs)"
        % (len(train_docs), len(st), len(val_docs), len(sv), time.time() - t0))
    files = sorted(glob.glob(os.path.join(corpus, "Gutenberg_Text", "*", "*.txt")))
    parts = []
    total = 0
    for f in files:
        if gutenberg_max_bytes is not None and total >= gutenberg_max_bytes:
            break
        t = gutenberg_text(f)
        total += len(t)
        parts.append(encode_docs(vocab, [t]))
    g = np.concatenate(parts) if parts else np.zeros(0, np.uint16)
    np.save(os.path.join(out_dir, "gutenberg.npy"), g)
    log("gutenberg: %d files, %d chars, %d tokens (%.1fs)" % (len(parts), total, len(g), time.time() - t0))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.normpath(os.path.join(here, "..", ".."))
    ap.add_argument("--corpus", default=os.path.join(root, "..", "shared", "corpus"))
    ap.add_argument("--vocab", default=os.path.join(root, "..", "shared", "assets", "llm", "tok512.bin"))
    ap.add_argument("--out", default=os.path.join(root, "build", "pytools", "data"))
    ap.add_argument("--gutenberg-max-bytes", type=int, default=None)
    a = ap.parse_args()
    build(a.corpus, a.vocab, a.out, a.gutenberg_max_bytes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
