#!/usr/bin/python3
"""Trains one of frugal's small Llama models on the public-domain corpus and exports GGUF.

  nice -n 15 /usr/bin/python3 tools/py/train_llama.py --preset tiny --out models/frugal-tiny.gguf
  nice -n 15 /usr/bin/python3 tools/py/train_llama.py --preset draft --out models/frugal-tiny-draft.gguf

Data: tools/py/corpus.py tokenises the TinyStories excerpts and the Gutenberg children's
books with the tok512 vocabulary (built on first use into build/pytools/data). Each batch
row is a random window of --seq tokens, taken from the TinyStories stream with probability
--story-frac and from the Gutenberg stream otherwise.

The learning-rate schedule (linear warm-up, cosine decay to lr/10) runs over --minutes of
wall-clock time (or --steps, when given), so a run fits a deadline on a shared machine.
Every --export-every minutes, and at the end, it saves a checkpoint (build/pytools/<name>.pt,
resumable with --resume) and exports the GGUF (--type q8_0 by default; norms stay f32).

Distillation (--teacher T.gguf, for draft models): the loss is the KL divergence from the
teacher's next-token distribution to the student's (soft labels, computed by the frozen
teacher on every batch), plus --hard-weight times the usual cross-entropy on the text.
--gen-frac of the batch rows come from a pool of text the teacher itself generated greedily
from corpus prompts (the text a draft sees during speculative decoding); --init S.gguf
starts the student from an existing model of the same shape. See docs/training.md.

--device cuda [--bf16] trains on a GPU (bfloat16 autocast for the training passes; the
held-out loss, the teacher's pool and the export stay in float32); --keep-best exports the
GGUF only when the held-out loss improves (a model that starts to learn the small story set
by heart keeps its best checkpoint). scripts/train_spec_pair.sh trains the bundled
speculative pair (presets small, small-draft, small-draft-mini) that way.
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import llama_ref  # noqa: E402

# the bundled default: ~2.6M parameters, GQA (6 heads over 2 kv heads), untied output.
# (dim 256 / 6 layers / hidden 768, ~5M, was the first plan; on two cores shared by eight
# busy engineers it saw too little text in the time there was, so it is smaller)
TINY = dict(dim=192, n_layers=6, n_heads=6, n_kv_heads=2, hidden=512, ctx=512, tied=False,
            seq=256, batch=8, lr=2e-3, type="q8_0")
PRESETS = {
    "tiny": TINY,
    # the draft: >10x smaller, same vocabulary
    "draft": dict(dim=64, n_layers=2, n_heads=4, n_kv_heads=4, hidden=192, ctx=512, tied=False,
                  seq=256, batch=16, lr=3e-3, type="f32"),
    # the speculative-decoding pair trained on a GPU (docs/training.md, "The small pair"): a
    # target of ~29M parameters (31 MB q8_0: larger than the CPU's caches, so a pass over a
    # few tokens costs about what a pass over one does) and two drafts distilled from it
    "small": dict(dim=512, n_layers=10, n_heads=8, n_kv_heads=2, hidden=1408, ctx=512, tied=False,
                  seq=256, batch=64, lr=8e-4, type="q8_0"),
    "small-draft": dict(TINY, batch=64, lr=1.5e-3),  # frugal-tiny's shape
    "small-draft-mini": dict(dim=128, n_layers=4, n_heads=4, n_kv_heads=4, hidden=384, ctx=512,
                             tied=False, seq=256, batch=64, lr=2e-3, type="q8_0"),
}


def log(msg, fh=None):
    line = time.strftime("%H:%M:%S ") + msg
    print(line, flush=True)
    if fh:
        fh.write(line + "\n")
        fh.flush()


def load_data(data_dir, corpus, vocab):
    need = ["stories_train.npy", "stories_val.npy", "gutenberg.npy"]
    if not all(os.path.exists(os.path.join(data_dir, n)) for n in need):
        import corpus as corpus_mod
        corpus_mod.build(corpus, vocab, data_dir)
    return [np.load(os.path.join(data_dir, n)).astype(np.int64) for n in need]


def batch_from(rng, streams, fracs, batch, seq, dev="cpu"):
    xs = []
    which = rng.choice(len(streams), size=batch, p=fracs)
    for w in which:
        s = streams[w]
        i = int(rng.integers(0, len(s) - seq - 1))
        xs.append(s[i:i + seq + 1])
    a = torch.from_numpy(np.stack(xs)).to(dev)
    return a[:, :-1], a[:, 1:]


@torch.no_grad()
def evaluate(model, val, seq, n_batches=8, batch=8):
    model.eval()
    tot, cnt = 0.0, 0
    # fixed, evenly spaced windows so that numbers are comparable between runs
    starts = np.linspace(0, len(val) - seq - 2, n_batches * batch).astype(np.int64)
    for b in range(n_batches):
        xs = np.stack([val[s:s + seq + 1] for s in starts[b * batch:(b + 1) * batch]])
        a = torch.from_numpy(xs).to(model.token_embd.device)
        logits = model(a[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), a[:, 1:].reshape(-1))
        tot += float(loss) * a.shape[0]
        cnt += a.shape[0]
    model.train()
    return tot / cnt


def export(model, out, vocab_path, qtype, name):
    import frugal_gguf
    import spm_tokenize
    vocab = spm_tokenize.load(vocab_path)
    tmp = out + ".tmp"
    frugal_gguf.write_llama(tmp, model.cfg, model.gguf_tensors(), vocab, qtype, name=name)
    os.replace(tmp, out)


def sample_text(model, vocab_path, prompt="Once upon a time", n=60):
    import spm_tokenize
    v = spm_tokenize.load(vocab_path)
    m = model.eval()
    ids = llama_ref.generate_greedy(m, v.encode(prompt, bos=True), n)
    model.train()
    return prompt + v.decode(ids, strip_leading_space=False)


def teacher_pool(teacher, rng, streams, fracs, n_rows, seq, path, log_fn, batch=32):
    """Rows of seq + 1 tokens: a corpus prompt of 16..64 tokens continued greedily by the
    teacher (batched, KV cache). Cached at path (the pool depends only on the seed)."""
    if os.path.exists(path):
        pool = np.load(path)
        if pool.shape == (n_rows, seq + 1):
            log_fn("teacher pool: %d rows from %s" % (n_rows, path))
            return pool
    rows = []
    t0 = time.time()
    while len(rows) < n_rows:
        b = min(batch, n_rows - len(rows))
        plen = int(rng.integers(16, 65))
        x, _ = batch_from(rng, streams, fracs, b, plen, teacher.token_embd.device)
        cache = [None] * teacher.cfg.n_layers
        with torch.no_grad():
            logits = teacher(x, 0, cache)[:, -1]
            out = [x]
            for pos in range(plen, seq + 1):
                nxt = torch.argmax(logits, dim=-1, keepdim=True)
                out.append(nxt)
                if pos == seq:
                    break
                logits = teacher(nxt, pos, cache)[:, -1]
        rows.extend(torch.cat(out, dim=1)[:, :seq + 1].cpu().numpy())
        log_fn("teacher pool: %d / %d rows (%.0f s)" % (len(rows), n_rows, time.time() - t0))
    pool = np.stack(rows).astype(np.int64)
    np.save(path + ".tmp.npy", pool)
    os.replace(path + ".tmp.npy", path)
    return pool


def distill_loss(student_logits, teacher_logits, y, hard_weight):
    """KL(teacher || student) per token, plus hard_weight * cross-entropy on the text."""
    V = student_logits.shape[-1]
    ls = F.log_softmax(student_logits.reshape(-1, V), dim=-1)
    lt = F.log_softmax(teacher_logits.reshape(-1, V), dim=-1)
    loss = (lt.exp() * (lt - ls)).sum(-1).mean()
    if hard_weight > 0:
        loss = loss + hard_weight * F.nll_loss(ls, y.reshape(-1))
    return loss


@torch.no_grad()
def agreement(student, teacher, val, seq, n_rows=32):
    """Fraction of held-out positions where the student's argmax equals the teacher's (the
    greedy acceptance of the student as a draft for the teacher, to first order)."""
    student.eval()
    starts = np.linspace(0, len(val) - seq - 2, n_rows).astype(np.int64)
    x = torch.from_numpy(np.stack([val[s:s + seq] for s in starts])).to(student.token_embd.device)
    a = (student(x).argmax(-1) == teacher(x).argmax(-1)).float().mean()
    student.train()
    return float(a)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    ap.add_argument("--out", required=True, help="GGUF to write")
    for k in ("dim", "n_layers", "n_heads", "n_kv_heads", "hidden", "ctx", "seq", "batch"):
        ap.add_argument("--" + k.replace("_", "-"), type=int, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--type", choices=["f32", "f16", "q8_0", "q4_0"], default=None)
    ap.add_argument("--minutes", type=float, default=60.0, help="wall-clock training budget")
    ap.add_argument("--steps", type=int, default=0, help="step budget (overrides --minutes)")
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--story-frac", type=float, default=0.6)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    ap.add_argument("--bf16", action="store_true",
                    help="with --device cuda: bfloat16 autocast for the training passes")
    ap.add_argument("--keep-best", action="store_true",
                    help="export the GGUF only when the held-out loss improves (checkpoints always)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--export-every", type=float, default=10.0, help="minutes")
    ap.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    ap.add_argument("--ckpt", default=None, help="checkpoint path (default build/pytools/<out name>.pt)")
    ap.add_argument("--data", default=os.path.join(ROOT, "build", "pytools", "data"))
    ap.add_argument("--corpus", default=os.path.join(ROOT, "..", "shared", "corpus"))
    ap.add_argument("--vocab", default=os.path.join(ROOT, "..", "shared", "assets", "llm", "tok512.bin"))
    ap.add_argument("--teacher", default=None, help="distil from this GGUF (soft labels)")
    ap.add_argument("--init", default=None, help="start from this GGUF (same shape)")
    ap.add_argument("--hard-weight", type=float, default=0.0,
                    help="with --teacher: weight of the cross-entropy on the text")
    ap.add_argument("--gen-frac", type=float, default=0.0,
                    help="with --teacher: fraction of rows from teacher-generated text")
    ap.add_argument("--gen-rows", type=int, default=512, help="size of the teacher-generated pool")
    ap.add_argument("--pool-batch", type=int, default=32, help="rows the teacher generates at once")
    a = ap.parse_args()

    p = dict(PRESETS[a.preset])
    for k in list(p):
        v = getattr(a, k, None)
        if v is not None:
            p[k] = v
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    if a.bf16 and dev.type != "cuda":
        raise SystemExit("--bf16 needs --device cuda")
    torch.manual_seed(a.seed)
    name = os.path.splitext(os.path.basename(a.out))[0]
    ckpt = a.ckpt or os.path.join(ROOT, "build", "pytools", name + ".pt")
    os.makedirs(os.path.dirname(ckpt), exist_ok=True)
    logfh = open(os.path.splitext(ckpt)[0] + ".log", "a")

    st, sv, gb = load_data(a.data, a.corpus, a.vocab)
    cfg = llama_ref.Config(dim=p["dim"], n_layers=p["n_layers"], n_heads=p["n_heads"],
                           n_kv_heads=p["n_kv_heads"], hidden=p["hidden"], vocab=512,
                           ctx=p["ctx"], tied=p["tied"])
    model = llama_ref.Llama(cfg, dtype=torch.float32)
    gen = torch.Generator().manual_seed(a.seed)
    model.init_random(gen)
    model.to(dev)
    if a.init:
        init = llama_ref.from_gguf(a.init, dtype=torch.float32)
        if init.cfg.as_dict() != cfg.as_dict():
            raise SystemExit("%s: shape %s does not match %s" % (a.init, init.cfg.as_dict(), cfg.as_dict()))
        model.load_state_dict({k: v.to(dev) for k, v in init.state_dict().items()})
        del init
    teacher = None
    if a.teacher:
        teacher = llama_ref.from_gguf(a.teacher, dtype=torch.float32).to(dev).eval()
        for q in teacher.parameters():
            q.requires_grad_(False)
    decay = [q for q in model.parameters() if q.dim() >= 2]
    nodecay = [q for q in model.parameters() if q.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": nodecay, "weight_decay": 0.0}],
                            lr=p["lr"], betas=(0.9, 0.95), eps=1e-8)
    step, spent = 0, 0.0
    rng = np.random.default_rng(a.seed)
    if a.resume and os.path.exists(ckpt):
        c = torch.load(ckpt, map_location=dev)
        model.load_state_dict(c["model"])
        opt.load_state_dict(c["opt"])
        step = c["step"]
        rng = np.random.default_rng(a.seed + step)
        log("resumed %s at step %d" % (ckpt, step), logfh)
    n_params = sum(q.numel() for q in model.parameters())
    log("preset %s %s params %d seq %d batch %d lr %g threads %d device %s%s budget %s"
        % (a.preset, cfg.as_dict(), n_params, p["seq"], p["batch"], p["lr"], a.threads,
           a.device, " bf16" if a.bf16 else "",
           ("%d steps" % a.steps) if a.steps else ("%.1f min" % a.minutes)), logfh)

    streams = [st, gb]
    fracs = [a.story_frac, 1.0 - a.story_frac]
    if teacher is not None:
        log("distilling from %s (hard weight %g, init %s)" % (a.teacher, a.hard_weight, a.init), logfh)
        if a.gen_frac > 0:
            pool_path = os.path.splitext(ckpt)[0] + ".pool%d-%d.npy" % (a.gen_rows, a.seed)
            pool = teacher_pool(teacher, np.random.default_rng(a.seed + 7), streams, fracs,
                                a.gen_rows, p["seq"], pool_path, lambda m: log(m, logfh),
                                batch=a.pool_batch)
            # one long stream of rows; a window starting at a row boundary is one row
            streams = streams + [pool.reshape(-1)]
            fracs = [f * (1.0 - a.gen_frac) for f in fracs] + [a.gen_frac]
    t_start = time.time()
    t_export = t_start
    budget = a.minutes * 60.0
    lr_max = p["lr"]
    ema = None
    best = None
    done = False
    start_step = step
    while not done:
        elapsed = time.time() - t_start
        if a.steps:
            frac = (step - start_step) / max(1, a.steps)
            done = step - start_step >= a.steps
        else:
            frac = elapsed / budget
            done = elapsed >= budget
        if done:
            break
        if step - start_step < a.warmup and not a.resume:
            lr = lr_max * (step + 1) / a.warmup
        else:
            lr = lr_max * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, frac))))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = batch_from(rng, streams, fracs, p["batch"], p["seq"], dev)
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=a.bf16):
            logits = model(x)
            if teacher is not None:
                with torch.no_grad():
                    t_logits = teacher(x)
                loss = distill_loss(logits.float(), t_logits.float(), y, a.hard_weight)
            else:
                loss = F.cross_entropy(logits.float().reshape(-1, cfg.vocab), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        lv = loss.item()
        ema = lv if ema is None else 0.98 * ema + 0.02 * lv
        if step % 20 == 0:
            tok = (step - start_step) * p["batch"] * p["seq"]
            log("step %d loss %.4f ema %.4f lr %.2e tokens %d %.0f tok/s"
                % (step, lv, ema, lr, tok, tok / max(1e-9, time.time() - t_start)), logfh)
        if time.time() - t_export >= a.export_every * 60.0:
            t_export = time.time()
            best = save(model, opt, step, ckpt, a, p, sv, logfh, name, teacher, best)
    save(model, opt, step, ckpt, a, p, sv, logfh, name, teacher, best)
    log("done: %d steps, %.1f min" % (step, (time.time() - t_start) / 60.0), logfh)
    return 0


def save(model, opt, step, ckpt, a, p, sv, logfh, name, teacher=None, best=None):
    """Checkpoint, held-out loss, GGUF export (with --keep-best only when the held-out loss
    is the best so far), sample. Returns the best held-out loss so far."""
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                "cfg": model.cfg.as_dict()}, ckpt + ".tmp")
    os.replace(ckpt + ".tmp", ckpt)
    vl = evaluate(model, sv, p["seq"])
    log("checkpoint step %d val_loss %.4f -> %s" % (step, vl, ckpt), logfh)
    if teacher is not None:
        log("argmax agreement with the teacher (held-out): %.4f" % agreement(model, teacher, sv, p["seq"]), logfh)
    if a.keep_best and best is not None and vl >= best:
        log("held-out loss %.4f not below the best %.4f: GGUF not exported" % (vl, best), logfh)
        return best
    try:
        export(model, a.out, a.vocab, p["type"], name)
        log("exported %s (%s)" % (a.out, p["type"]), logfh)
    except Exception as e:  # keep training even when the exporter is being worked on
        log("export failed: %r" % (e,), logfh)
    try:
        log("sample: %r" % sample_text(model, a.vocab), logfh)
    except Exception as e:
        log("sample failed: %r" % (e,), logfh)
    return vl if best is None else min(vl, best)


if __name__ == "__main__":
    sys.exit(main())
