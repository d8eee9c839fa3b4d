#!/usr/bin/python3
"""Post-training TREC: choose hash projections for a pretrained CNN from calibration data,
without retraining, and measure accuracy against the MACs that reuse removes.

Network: the CIFAR-10 ResNet-20 of akamaster/pytorch_resnet_cifar10 (He et al., option-A
shortcuts: stride-2 subsampling and zero channel padding), defined in cifar_nets.py and loaded from its
state_dict (../shared/assets/cnn/resnet-cifar/resnet20-12fca82f.th). Every one of its 19
3x3 convolutions is replaced by tools/py/trec.py's TrecConv2d (per-image buckets,
exactly the C semantics); batch norms, shortcuts, pooling and the classifier stay dense.

Projections ("method"):
    gauss  i.i.d. N(0, 1) entries (sign random projections, data-free)
    pca    for each sub-vector j, the top-H eigenvectors of the covariance of that
           sub-vector over the calibration rows (hyperplanes through the origin, as the C
           kernels have no offset)

Data: ../shared/assets/cnn/cifar10/test_batch.bin (lossy JPEG copy of the CIFAR-10 test
set; dense ResNet-20 scores about 81% on it). The file is sorted by class, so the
evaluation uses every (10000 / --eval)-th image from 0 (default 1000 images, 100 per
class) and the calibration every (10000 / --calib)-th image from 5 (default 200; disjoint
from the evaluation images).

Modes:
    grid     uniform (L, H) for every layer: accuracy and MACs removed per (L, H, method)
    greedy   per layer, the candidate (L, H) with the most MACs removed whose top-1
             agreement with the dense network on the calibration images stays >= --agree
             (other layers dense), then the combination on the evaluation images

MACs: dense = rows * K * out_c per conv; reuse = sum over clusters of L_j * out_c
(partial products); hashing costs rows * K * H more multiply-adds, reported separately
("net" subtracts it). Bounded by design: torch.set_num_threads(1); run it under nice.

Usage:
    nice -n 15 trec_ptq.py grid   [--eval 1000] [--calib 200] [--out results.md]
    nice -n 15 trec_ptq.py greedy [--eval 1000] [--calib 200] [--agree 0.98]
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trec  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ASSETS = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "assets"))
from cifar_nets import MEAN, STD, ResNet20  # noqa: E402,F401  (shared definitions)
from cifar_nets import BasicBlock as Block  # noqa: E402,F401
from cifar_nets import load_resnet20 as load_model  # noqa: E402,F401


def conv_paths(model):
    """Names of the 19 convolutions, in forward order."""
    return [n for n, mod in model.named_modules() if isinstance(mod, nn.Conv2d)]


def get_parent(model, name):
    parts = name.split(".")
    mod = model
    for p in parts[:-1]:
        mod = getattr(mod, p)
    return mod, parts[-1]


# ---------------------------------------------------------------------------------------
# data

def load_cifar(path, offset, count, step=10):
    """Images offset, offset + step, ... (count of them). The file is sorted by class
    (1000 airplanes first, ...), so a stride of 10 gives a class-balanced subset."""
    rec = 1 + 3072
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, rec)
    idx = offset + step * np.arange(count)
    if idx[-1] >= raw.shape[0]:
        raise ValueError("%s: not enough images for %d at stride %d" % (path, count, step))
    raw = raw[idx]
    labels = raw[:, 0].astype(np.int64)
    x = raw[:, 1:].reshape(count, 3, 32, 32).astype(np.float32) / 255.0
    x = (x - MEAN[None, :, None, None]) / STD[None, :, None, None]
    return torch.from_numpy(x), torch.from_numpy(labels)


# ---------------------------------------------------------------------------------------
# TREC replacement

class TrecWrap(nn.Module):
    """A dense conv replaced by TrecConv2d with the same weights."""

    def __init__(self, conv, L, H, proj_flat, offset=None):
        super().__init__()
        k = conv.kernel_size[0]
        L = min(L, conv.in_channels * k * k)
        self.t = trec.TrecConv2d(conv.in_channels, conv.out_channels, k, conv.stride,
                                 conv.padding, conv.dilation, bias=False, sub_len=L,
                                 hash_bits=H, scope=trec.SCOPE_IMAGE)
        with torch.no_grad():
            self.t.weight.copy_(conv.weight)
        self.t.set_proj_flat(proj_flat)
        if offset is not None:
            with torch.no_grad():
                self.t.offset.copy_(offset)
        self.t.eval()
        self.macs = [0, 0, 0]

    def forward(self, x):
        y = self.t(x)
        self.macs[0] += self.t.last_macs_dense
        self.macs[1] += self.t.last_macs_reuse
        self.macs[2] += self.t.last_macs_hash
        return y


def calib_rows(model, x):
    """Dense im2col rows of every conv's input on the calibration images:
    {name: [rows, K] tensor} in filter order (fy, fx, ic)."""
    rows = {}
    hooks = []
    for name in conv_paths(model):
        mod, attr = get_parent(model, name)
        conv = getattr(mod, attr)

        def hook(m, inp, out, name=name, conv=conv):
            xin = inp[0]
            k = conv.kernel_size[0]
            H, W = xin.shape[2], xin.shape[3]
            oh = (H + 2 * conv.padding[0] - k) // conv.stride[0] + 1
            ow = (W + 2 * conv.padding[1] - k) // conv.stride[1] + 1
            r = trec.im2col_torch(xin, k, k, conv.stride, conv.dilation, conv.padding[0],
                                  conv.padding[1], oh, ow)
            rows.setdefault(name, []).append(r.reshape(-1, r.shape[-1]))

        hooks.append(conv.register_forward_hook(hook))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return {k: torch.cat(v) for k, v in rows.items()}


def make_proj(method, rows, L, H, gen, centre=False):
    """Projection vector in the C layout (sub-vector j: H x L_j) for one conv, and the
    offsets [J, H] (zero, or with centre=True -P.mean so that the hyperplanes pass through
    the calibration mean of each sub-vector)."""
    K = rows.shape[1]
    L = min(L, K)
    parts, offs = [], []
    for j in range((K + L - 1) // L):
        lj = min(L, K - j * L)
        mu = rows[:, j * L: j * L + lj].mean(0)
        if method == "gauss":
            P = torch.randn(H, lj, generator=gen)
        else:
            X = rows[:, j * L: j * L + lj].double()
            X = X - X.mean(0, keepdim=True)
            cov = X.t() @ X / max(1, X.shape[0] - 1)
            evals, evecs = torch.linalg.eigh(cov)
            order = torch.argsort(evals, descending=True)
            P = evecs[:, order[:min(H, lj)]].t().float()
            if P.shape[0] < H:  # fewer dimensions than bits: fill with random directions
                P = torch.cat([P, torch.randn(H - P.shape[0], lj, generator=gen)])
        parts.append(P.reshape(-1))
        offs.append(-(P @ mu) if centre else torch.zeros(H))
    return torch.cat(parts), torch.stack(offs)


def apply_trec(model, dense, config, rows, method, seed=0, centre=False):
    """Replace the convs named in config {name: (L, H)}; returns the wrappers."""
    gen = torch.Generator().manual_seed(seed)
    wraps = {}
    for name, (L, H) in config.items():
        mod, attr = get_parent(model, name)
        conv = dict(dense.named_modules())[name]
        proj, off = make_proj(method, rows[name], L, H, gen, centre)
        w = TrecWrap(conv, L, H, proj, off)
        setattr(mod, attr, w)
        wraps[name] = w
    return wraps


def evaluate(model, x, y, batch=100):
    correct = 0
    preds = []
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            p = model(x[i:i + batch]).argmax(1)
            preds.append(p)
            correct += int((p == y[i:i + batch]).sum())
    return correct / x.shape[0], torch.cat(preds)


def mac_summary(wraps, dense_total):
    d = sum(w.macs[0] for w in wraps.values())
    r = sum(w.macs[1] for w in wraps.values())
    h = sum(w.macs[2] for w in wraps.values())
    removed = (d - r) / dense_total
    net = (d - r - h) / dense_total
    return removed, net


def fresh(dense):
    import copy
    return copy.deepcopy(dense)


def total_conv_macs(dense, x):
    tot = [0]
    hooks = []
    for name in conv_paths(dense):
        conv = dict(dense.named_modules())[name]

        def hook(m, inp, out):
            tot[0] += out.numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1]

        hooks.append(conv.register_forward_hook(hook))
    with torch.no_grad():
        dense(x)
    for h in hooks:
        h.remove()
    return tot[0]


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["grid", "greedy"])
    ap.add_argument("--eval", type=int, default=1000)
    ap.add_argument("--calib", type=int, default=200)
    ap.add_argument("--agree", type=float, default=0.98)
    ap.add_argument("--methods", default="gauss,pca",
                    help="gauss, pca; a '+c' suffix (gauss+c, pca+c) adds offsets that centre "
                         "each sub-vector on its calibration mean")
    ap.add_argument("--L", default="4,8,16")
    ap.add_argument("--H", default="4,6,8,10")
    ap.add_argument("--model", default=os.path.join(ASSETS, "cnn/resnet-cifar/resnet20-12fca82f.th"))
    ap.add_argument("--data", default=os.path.join(ASSETS, "cnn/cifar10/test_batch.bin"))
    ap.add_argument("--out", default=None, help="append the result table (markdown) here")
    a = ap.parse_args(argv[1:])
    torch.set_num_threads(1)
    for p in (a.model, a.data):
        if not os.path.exists(p):
            sys.stderr.write("trec_ptq.py: %s: not found\n" % p)
            return 1
    dense = load_model(a.model)
    xe, ye = load_cifar(a.data, 0, a.eval, 10000 // a.eval if a.eval <= 1000 else 1)
    xc, _ = load_cifar(a.data, 5, a.calib, 10000 // a.calib)
    t0 = time.time()
    acc0, pred0 = evaluate(dense, xe, ye)
    dense_macs = total_conv_macs(dense, xe[:1]) * a.eval
    rows = calib_rows(dense, xc)
    names = conv_paths(dense)
    lines = []

    def emit(s):
        print(s, flush=True)
        lines.append(s)

    emit("dense ResNet-20: top-1 %.1f%% on %d images (%.1fs), conv MACs/image %.1fM" %
         (100 * acc0, a.eval, time.time() - t0, dense_macs / a.eval / 1e6))
    Ls = [int(v) for v in a.L.split(",")]
    Hs = [int(v) for v in a.H.split(",")]
    methods = a.methods.split(",")
    if a.mode == "grid":
        emit("")
        emit("| method | L | H | top-1 | agree w/ dense | MACs removed | net of hashing | s |")
        emit("|---|---:|---:|---:|---:|---:|---:|---:|")
        for method in methods:
            for L in Ls:
                for H in Hs:
                    t0 = time.time()
                    m = fresh(dense)
                    wraps = apply_trec(m, dense, {n: (L, H) for n in names}, rows,
                                       method.split("+")[0], centre=method.endswith("+c"))
                    acc, pred = evaluate(m, xe, ye)
                    rem, net = mac_summary(wraps, dense_macs)
                    emit("| %s | %d | %d | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %.0f |" % (
                        method, L, H, 100 * acc, 100 * float((pred == pred0).float().mean()),
                        100 * rem, 100 * net, time.time() - t0))
    else:
        _, cpred0 = evaluate(dense, xc, torch.zeros(a.calib, dtype=torch.int64))
        method = methods[0]
        cands = [(L, H) for L in Ls for H in Hs]
        chosen = {}
        emit("")
        emit("greedy per-layer choice (%s, calib agreement >= %.2f):" % (method, a.agree))
        for name in names:
            best = None
            for L, H in cands:
                m = fresh(dense)
                wraps = apply_trec(m, dense, {name: (L, H)}, rows, method.split("+")[0],
                                   centre=method.endswith("+c"))
                _, cp = evaluate(m, xc, torch.zeros(a.calib, dtype=torch.int64))
                agree = float((cp == cpred0).float().mean())
                w = wraps[name]
                saved = w.macs[0] - w.macs[1]
                if agree >= a.agree and (best is None or saved > best[0]):
                    best = (saved, L, H, agree, 1 - w.macs[1] / w.macs[0])
            if best is not None:
                chosen[name] = (best[1], best[2])
                emit("  %-18s L %2d H %2d  calib agreement %.3f  layer MACs removed %.1f%%" %
                     (name, best[1], best[2], best[3], 100 * best[4]))
            else:
                emit("  %-18s dense (no candidate keeps agreement)" % name)
        m = fresh(dense)
        wraps = apply_trec(m, dense, chosen, rows, method.split("+")[0],
                           centre=method.endswith("+c"))
        acc, pred = evaluate(m, xe, ye)
        rem, net = mac_summary(wraps, dense_macs)
        emit("combined: top-1 %.1f%% (dense %.1f%%), agreement %.1f%%, conv MACs removed "
             "%.1f%%, net of hashing %.1f%%" % (100 * acc, 100 * acc0,
                                                100 * float((pred == pred0).float().mean()),
                                                100 * rem, 100 * net))
    if a.out:
        with open(a.out, "a") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
