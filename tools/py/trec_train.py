#!/usr/bin/python3
"""Training with TREC layers in place: CifarNet from scratch, ResNet-20 fine-tuned from
the pretrained checkpoint, with chosen convolutions replaced by tools/py/trec.py's
TrecConv2d (learned projections through its straight-through relaxation of the hash
bits), and post-training (PTQ) points as the baseline. docs/trec_training.md has the
method, the commands and the results.

Modes:
    dense  --net cifarnet|resnet20 [--from CKPT|pretrained] --epochs E
           train (or fine-tune) the dense network
    trec   --net N --from CKPT|pretrained --layers SPEC --L L --H H --epochs E
           replace the layers by TrecConv2d (projections initialised by --init: pca+c,
           the post-training method of trec_ptq.py, by default), then train them end to
           end (weights, batch norms, projections, offsets); --epochs 0 is the PTQ point
    eval   CKPT          accuracy and MACs of a saved model on the test set (and on the
                         held-out training images with --holdout N)
    table  [RUNS.jsonl]  the runs as a markdown table (accuracy vs MACs on the TREC layers)

Layer SPEC: comma-separated names or prefixes of cifar_nets.trec_layers() names ("conv2",
"layer3", "layer2,layer3", "all"). --L is a number or "c" (L = the layer's input channels:
one sub-vector per filter tap); both --L and --H may be a comma list with one value per
selected layer. --pixel (needs --L c): pixel mode, the shared projection of docs/trec.md
(every input pixel hashed once with one H x in_c projection; the conv runs on the centroid
map); the pca inits then take the principal directions of the calibration pixels.

Outputs: /work/main/build/trec_models/<net>_<tag>.pt (cifar_nets.save_checkpoint:
state_dict, TREC config, meta) and one JSON line per run appended to
/work/main/build/trec_models/runs.jsonl:
    {"net", "tag", "mode", "from", "layers": [names], "L", "H" (per layer), "pixel"
     (bool), "init",
     "epochs", "train_images_per_epoch", "dense_acc" (the starting dense net), "acc" (this
     model), "test_images", "holdout" (N), "val_acc", "val_images", "dense_val_acc" (the
     starting net on the held-out images; null without --holdout), "sec_per_epoch",
     "macs": {"layers": {name: {"L", "H", "pixel", "dense", "reuse", "hash", "done",
               "clusters", "rows"}} (per image, averaged over the test set; done = reuse +
               hash; pixel mode: clusters = buckets x taps),
              "trec_dense", "trec_done", "speedup_trec" (dense / done on the TREC layers),
              "net_dense" (all convs), "net_done", "speedup_net"}}

--holdout N (default 0: none) keeps N training images (N/10 per class, a fixed seeded
choice: cifar_data.holdout_split) out of the training and the calibration and reports the
accuracy on them ("val_acc"): model selection without the test set. --test-step k tests
on every k-th test record (1, the default: all 10000).

Bounded by design: torch.set_num_threads(--threads, default 2); run it under nice -n 19.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cifar_data  # noqa: E402
import cifar_nets  # noqa: E402
import trec  # noqa: E402

OUT_DIR = os.path.join(cifar_data.ROOT, "build", "trec_models")
PRETRAINED = os.path.join(cifar_data.ASSETS, "cnn", "resnet-cifar", "resnet20-12fca82f.th")


# ---------------------------------------------------------------------------------------
# models

def load_start(net, src):
    """The network to start from: "pretrained" (ResNet-20 asset), "scratch", or a .pt
    written by this script (dense or TREC)."""
    if src == "pretrained":
        if net != "resnet20":
            raise ValueError("--from pretrained exists only for resnet20")
        return cifar_nets.load_resnet20(PRETRAINED)
    if src == "scratch":
        torch.manual_seed(0)
        return cifar_nets.build(net)
    m, ck = cifar_nets.load_checkpoint(src)
    if ck["net"] != net:
        raise ValueError("%s: holds %s, not %s" % (src, ck["net"], net))
    return m


def select_layers(model, spec):
    names = [n for n, _ in cifar_nets.trec_layers(model)]
    if spec == "all":
        return names
    out = []
    for p in spec.split(","):
        hit = [n for n in names if n == p or n.startswith(p + ".")]
        if not hit:
            raise ValueError("--layers: %r matches none of %s" % (p, ", ".join(names)))
        out += [n for n in hit if n not in out]
    return [n for n in names if n in out]


def per_layer(values, layers, what):
    vals = values.split(",")
    if len(vals) == 1:
        vals = vals * len(layers)
    if len(vals) != len(layers):
        raise ValueError("--%s: %d values for %d layers" % (what, len(vals), len(layers)))
    return vals


def calib_rows(model, names, x, pixel_names=()):
    """{name: [rows, K]} im2col rows (filter order) of the inputs of the named convs; for
    the names in pixel_names the input pixels instead: [B * H * W, in_channels]."""
    mods = dict(model.named_modules())
    rows, hooks = {}, []
    for n in names:
        conv = mods[n]

        def hook(m, inp, out, n=n):
            xin = inp[0]
            if n in pixel_names:
                rows.setdefault(n, []).append(xin.permute(0, 2, 3, 1).reshape(-1, xin.shape[1]))
                return
            r = trec.im2col_torch(xin, m.kernel_size[0], m.kernel_size[1], m.stride,
                                  m.dilation, m.padding[0], m.padding[1], out.shape[2],
                                  out.shape[3])
            rows.setdefault(n, []).append(r.reshape(-1, r.shape[-1]))
        hooks.append(conv.register_forward_hook(hook))
    was = model.training
    model.eval()
    with torch.no_grad():
        for i in range(0, x.shape[0], 100):
            model(x[i:i + 100])
    model.train(was)
    for h in hooks:
        h.remove()
    return {k: torch.cat(v) for k, v in rows.items()}


def auto_tau(t, rows, frac):
    """tau = frac * median |d| of the layer's hash dot products on calibration rows, so
    that the relaxation is equally soft whatever the scale of the activations."""
    with torch.no_grad():
        if t.pixel:                              # rows are pixels [n, in_c]
            X = rows.reshape(rows.shape[0], t.G, t.L)
            d = torch.einsum("ngl,ghl->ngh", X, t.proj) + t.offset
            return float(frac * d.abs().median().clamp_min(1e-6))
        K = rows.shape[1]
        X = F.pad(rows, (0, t.J * t.L - K)).reshape(-1, t.J, t.L)
        d = torch.einsum("njl,jhl->njh", X, t.proj * t.mask) + t.offset
        return float(frac * d.abs().median().clamp_min(1e-6))


def make_trec(model, layers, Ls, Hs, init, calib_x, tau_frac, seed=0, pixel=False):
    """Swaps the layers for TrecConv2d; projections from init (gauss, pca, pca+c) on the
    calibration images; tau per layer from auto_tau (tau_frac > 0) or 1.0. pixel: pixel
    mode on every layer (L must be "c" or divide the layer's in_channels; the pca inits and tau
    use the layers' calibration pixels)."""
    rows = calib_rows(model, layers, calib_x, layers if pixel else ()) \
        if (init.startswith("pca") or tau_frac > 0) else {}
    mods = dict(model.named_modules())
    for n, Ls_, Hs_ in zip(layers, Ls, Hs):
        conv = mods[n]
        L = conv.in_channels if Ls_ == "c" else int(Ls_)
        if pixel and (L > conv.in_channels or conv.in_channels % L):
            raise ValueError("--pixel: %s needs L to divide c (%d), not %d" %
                             (n, conv.in_channels, L))
        t = cifar_nets.to_trec(model, n, L, int(Hs_), init=init, calib_rows=rows.get(n),
                               seed=seed, pixel=pixel)
        if tau_frac > 0:
            t.tau = auto_tau(t, rows[n], tau_frac)
    return model


# ---------------------------------------------------------------------------------------
# evaluation with MAC accounting

def set_fast(model, fast, detach_x=None):
    """TrecConv2d.fast on every TREC layer (forward_fast: oneDNN products, float sums
    in another order; False: the reference forward, exactly the C semantics), and
    relax_detach_x when given."""
    for m in model.modules():
        if isinstance(m, trec.TrecConv2d):
            m.fast = fast
            if detach_x is not None:
                m.relax_detach_x = detach_x


def evaluate(model, x_u8, y, batch=200, fast=True):
    """(top-1, per-layer MAC stats per image) on uint8 images."""
    model.eval()
    set_fast(model, fast)
    tl = [(n, m) for n, m in model.named_modules() if isinstance(m, trec.TrecConv2d)]
    acc = {n: [0, 0, 0, 0, 0] for n, _ in tl}   # dense, reuse, hash, clusters, rows
    hooks = []
    for n, m in tl:
        def hook(mod, inp, out, n=n):
            a = acc[n]
            a[0] += mod.last_macs_dense
            a[1] += mod.last_macs_reuse
            a[2] += mod.last_macs_hash
            a[3] += mod.last_clusters
            a[4] += mod.last_rows
        hooks.append(m.register_forward_hook(hook))
    correct = 0
    with torch.no_grad():
        for i in range(0, x_u8.shape[0], batch):
            xb = cifar_nets.normalize(cifar_data.to_float(x_u8[i:i + batch]))
            correct += int((model(xb).argmax(1) == torch.as_tensor(y[i:i + batch])).sum())
    for h in hooks:
        h.remove()
    set_fast(model, False)
    n_img = x_u8.shape[0]
    mods = dict(tl)
    layers = {}
    for n, a in acc.items():
        m = mods[n]
        layers[n] = dict(L=m.L, H=m.H, J=m.J, pixel=bool(m.pixel), dense=a[0] / n_img,
                         reuse=a[1] / n_img,
                         hash=a[2] / n_img, done=(a[1] + a[2]) / n_img,
                         clusters=a[3] / n_img, rows=a[4] / n_img)
    return correct / n_img, layers


def mac_summary(model, layers):
    dense_all = cifar_nets.conv_macs(model)
    td = sum(v["dense"] for v in layers.values())
    tdone = sum(v["done"] for v in layers.values())
    nd = float(sum(dense_all.values()))
    ndone = nd - td + tdone
    return dict(layers=layers, trec_dense=td, trec_done=tdone,
                speedup_trec=(td / tdone) if tdone else None,
                net_dense=nd, net_done=ndone, speedup_net=nd / ndone)


def start_acc(model, src, step, xt, yt, out_dir):
    """Top-1 of the starting network, remembered in out_dir/start_acc.json by (source,
    its mtime, test step) since every run from the same checkpoint needs it; step may
    also be a string naming the image set (e.g. "val5000", the held-out images)."""
    path = PRETRAINED if src == "pretrained" else src
    key = "%s|%s|%s" % (src, os.path.getmtime(path) if os.path.exists(path) else 0, step)
    cache = os.path.join(out_dir, "start_acc.json")
    memo = {}
    if src != "scratch" and os.path.exists(cache):
        with open(cache) as f:
            memo = json.load(f)
        if key in memo:
            return memo[key]
    acc, _ = evaluate(model, xt, yt)
    if src != "scratch":
        memo[key] = acc
        os.makedirs(out_dir, exist_ok=True)
        with open(cache, "w") as f:
            json.dump(memo, f)
    return acc


# ---------------------------------------------------------------------------------------
# training

def recalibrate_bn(model, x_u8, images, batch, seed):
    """Re-estimates the batch norms' running statistics on `images` training images
    (no augmentation, no weight update; cumulative average), with the TREC layers in
    place."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    if not bns or images <= 0:
        return
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    idx = torch.randperm(x_u8.shape[0], generator=torch.Generator().manual_seed(seed + 7))[:images]
    with torch.no_grad():
        for i in range(0, len(idx), batch):
            model(cifar_nets.normalize(cifar_data.to_float(x_u8[idx[i:i + batch].numpy()])))
    for m in bns:
        m.momentum = 0.1
    model.eval()


def param_groups(model, lr, lr_proj, wd):
    proj, decay, no_decay = [], [], []
    for n, p in model.named_parameters():
        if n.endswith(".proj") or n.endswith(".offset"):
            proj.append(p)
        elif p.ndim <= 1:
            no_decay.append(p)
        else:
            decay.append(p)
    return [dict(params=decay, lr=lr, weight_decay=wd),
            dict(params=no_decay, lr=lr, weight_decay=0.0),
            dict(params=proj, lr=lr_proj, weight_decay=0.0)]


def kd_loss(out, yb, t_out, weight, temp):
    """Hinton et al.'s knowledge distillation: (1 - weight) * cross-entropy on the labels +
    weight * temp^2 * KL(teacher || student) of the temperature-softened distributions."""
    ce = F.cross_entropy(out, yb)
    if t_out is None or weight <= 0:
        return ce
    kl = F.kl_div(F.log_softmax(out / temp, dim=1), F.log_softmax(t_out / temp, dim=1),
                  reduction="batchmean", log_target=True)
    return (1.0 - weight) * ce + weight * temp * temp * kl


def train(model, x_u8, y, epochs, lr, lr_proj, batch, per_epoch, wd, seed, log,
          freeze_bn=False, progress=50, clip=0.0, teacher=None, kd_weight=0.0, kd_temp=4.0):
    """SGD (momentum 0.9, cosine decay to 0 over all steps, weight decay wd on weights);
    the projections and offsets get their own lr. per_epoch: images drawn (without
    replacement) per epoch. teacher (a model in eval mode, or None): distillation from
    its logits on the same augmented batch (kd_loss). Returns seconds per epoch."""
    gen = torch.Generator().manual_seed(seed)
    groups = param_groups(model, lr, lr_proj, wd)
    opt = torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)
    base = [g["lr"] for g in opt.param_groups]
    n = x_u8.shape[0]
    per_epoch = min(per_epoch or n, n)
    steps_per = (per_epoch + batch - 1) // batch
    total = max(1, epochs * steps_per)
    step = 0
    xt = torch.from_numpy(x_u8)
    yt = torch.as_tensor(y)
    times = []
    for ep in range(epochs):
        model.train()
        if freeze_bn:
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        t0 = time.time()
        idx = torch.randperm(n, generator=gen)[:per_epoch]
        tot_loss, tot_ok, seen = 0.0, 0, 0
        for i in range(0, per_epoch, batch):
            bi = idx[i:i + batch]
            xb = cifar_nets.normalize(cifar_data.augment(cifar_data.to_float(xt[bi]), gen))
            yb = yt[bi]
            f = 0.5 * (1 + math.cos(math.pi * step / total))
            for g, b in zip(opt.param_groups, base):
                g["lr"] = b * f
            out = model(xb)
            t_out = None
            if teacher is not None and kd_weight > 0:   # weight 0: kd_loss is the CE
                with torch.no_grad():
                    t_out = teacher(xb)
            loss = kd_loss(out, yb, t_out, kd_weight, kd_temp)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            step += 1
            tot_loss += float(loss) * len(bi)
            tot_ok += int((out.argmax(1) == yb).sum())
            seen += len(bi)
            if progress and step % progress == 0:
                log("  step %d/%d: loss %.4f (%.2f s/step)" % (
                    step, total, tot_loss / seen, (time.time() - t0) / (seen / batch)))
        times.append(time.time() - t0)
        log("epoch %d/%d: loss %.4f, train top-1 %.1f%% (%d images, %.0f s)" % (
            ep + 1, epochs, tot_loss / seen, 100 * tot_ok / seen, seen, times[-1]))
    return float(np.median(times)) if times else 0.0


def print_table(path):
    """Markdown table of the runs in a runs.jsonl (the last run of each net/tag)."""
    runs = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                runs[(r["net"], r["tag"])] = r
    print("| net | tag | TREC layers | L | H | epochs x images | test images | start top-1 "
          "| top-1 | change | TREC-layer MACs dense -> done (incl. hash) | speed-up on them "
          "| whole net | s/epoch |")
    print("|---|---|---|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|")
    for r in sorted(runs.values(), key=lambda r: (r["net"], r["tag"])):
        m = r["macs"]
        Ls = sorted(set(r["L"]))
        if r.get("pixel"):
            Ls = ["%s/pix" % v for v in Ls]
        Hs = sorted(set(r["H"]))
        lay = ",".join(r["layers"]) if len(r["layers"]) <= 2 else "%d convs (%s..)" % (
            len(r["layers"]), r["layers"][0])
        da = r["dense_acc"]
        print("| %s | %s | %s | %s | %s | %d x %d | %d | %s | %.2f%% | %s | %s | %s | %.2fx | %.0f |" % (
            r["net"], r["tag"], lay or "-", ",".join(map(str, Ls)) or "-",
            ",".join(map(str, Hs)) or "-", r["epochs"],
            r["train_images_per_epoch"] if r["epochs"] else 0,
            r["test_images"], "-" if da is None else "%.2f%%" % (100 * da), 100 * r["acc"],
            "-" if da is None else "%+.2f" % (100 * (r["acc"] - da)),
            "%.2fM -> %.2fM" % (m["trec_dense"] / 1e6, m["trec_done"] / 1e6) if m["trec_done"] else "-",
            "%.2fx" % m["speedup_trec"] if m["speedup_trec"] else "-", m["speedup_net"],
            r["sec_per_epoch"]))


# ---------------------------------------------------------------------------------------
# CLI

def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["dense", "trec", "eval", "table"])
    ap.add_argument("ckpt", nargs="?", help="eval: the .pt to evaluate; table: runs.jsonl")
    ap.add_argument("--net", choices=cifar_nets.NETS, default="cifarnet")
    ap.add_argument("--from", dest="src", default="scratch",
                    help="scratch, pretrained (resnet20) or a .pt of this script")
    ap.add_argument("--tag", default=None)
    ap.add_argument("--layers", default="all")
    ap.add_argument("--L", default="c")
    ap.add_argument("--H", default="8")
    ap.add_argument("--init", default="pca+c", choices=["gauss", "pca", "pca+c"])
    ap.add_argument("--pixel", action="store_true",
                    help="pixel mode (shared projection; needs --L c): each input pixel "
                         "hashed once, the conv on the centroid map")
    ap.add_argument("--tau", type=float, default=0.5,
                    help="relaxation temperature as a fraction of the median |d| on the "
                         "calibration rows (0: trec.py's default tau = 1)")
    ap.add_argument("--calib", type=int, default=256, help="training images for the init")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--per-epoch", type=int, default=0, help="training images per epoch (0: all)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--lr-proj", type=float, default=0.01)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--freeze-bn", action="store_true", help="batch norms in eval mode")
    ap.add_argument("--bn-recal", type=int, default=0,
                    help="first re-estimate the batch norm statistics on N training images")
    ap.add_argument("--test-step", type=int, default=1,
                    help="test on every k-th record (1: all 10000)")
    ap.add_argument("--holdout", type=int, default=0,
                    help="hold N training images out (N/10 per class, fixed seeded choice), "
                         "not trained on, and report their accuracy as val_acc (0: none)")
    ap.add_argument("--exact-eval", action="store_true",
                    help="final evaluation with TrecConv2d's reference forward (slower)")
    ap.add_argument("--clip", type=float, default=2.0, help="gradient norm clip (0: none)")
    ap.add_argument("--relax-x", action="store_true",
                    help="let the relaxation's gradient reach the layer input through the "
                         "hash dot products (trec.py's reference behaviour; unstable here)")
    ap.add_argument("--teacher", default=None,
                    help="a .pt of this script (e.g. the dense start): distil from its logits "
                         "(knowledge distillation; see --kd-weight, --kd-temp)")
    ap.add_argument("--kd-weight", type=float, default=0.7,
                    help="with --teacher: weight of the distillation term (the labels' "
                         "cross-entropy gets 1 - this)")
    ap.add_argument("--kd-temp", type=float, default=4.0, help="with --teacher: temperature")
    ap.add_argument("--progress", type=int, default=50, help="log every N steps (0: never)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-dir", default=OUT_DIR)
    ap.add_argument("--no-save", action="store_true")
    a = ap.parse_args(argv[1:])
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    def log(s):
        print(s, flush=True)

    try:
        if a.mode == "table":
            print_table(a.ckpt or os.path.join(a.out_dir, "runs.jsonl"))
            return 0
        if a.test_step < 1:
            raise ValueError("--test-step must be >= 1")
        if not 0.0 <= a.kd_weight <= 1.0 or a.kd_temp <= 0:
            raise ValueError("--kd-weight must be in [0, 1] and --kd-temp > 0")
        xt, yt = cifar_data.load_test(step=a.test_step)
        xv = yv = None
        if a.holdout or a.mode != "eval":
            x, y = cifar_data.load_train()
            tr, va = cifar_data.holdout_split(y, a.holdout)
            if a.holdout:
                xv, yv = x[va], y[va]
                x, y = x[tr], y[tr]
        if a.mode == "eval":
            if not a.ckpt:
                raise ValueError("eval needs a checkpoint")
            model, ck = cifar_nets.load_checkpoint(a.ckpt)
            acc, layers = evaluate(model, xt, yt, fast=not a.exact_eval)
            s = mac_summary(model, layers)
            log("%s: top-1 %.2f%% on %d images; TREC layers %s; speed-up on them %s, "
                "whole net %.2fx" % (a.ckpt, 100 * acc, len(yt), list(layers),
                                    "%.2fx" % s["speedup_trec"] if s["speedup_trec"] else "-",
                                    s["speedup_net"]))
            if xv is not None:
                vacc, _ = evaluate(model, xv, yv, fast=not a.exact_eval)
                log("%s: val top-1 %.2f%% on %d held-out training images (--holdout %d)" % (
                    a.ckpt, 100 * vacc, len(yv), a.holdout))
            return 0
        model = load_start(a.net, a.src)
        t0 = time.time()
        dense_val_acc = None
        if a.src == "scratch":
            dense_acc = None                         # untrained: nothing to compare with
        else:
            dense_acc = start_acc(model, a.src, a.test_step, xt, yt, a.out_dir)
            log("start (%s, %s): top-1 %.2f%% on %d test images (%.0f s)" % (
                a.net, a.src, 100 * dense_acc, len(yt), time.time() - t0))
            if xv is not None:
                dense_val_acc = start_acc(model, a.src, "val%d" % a.holdout, xv, yv, a.out_dir)
                log("start: val top-1 %.2f%% on %d held-out training images" % (
                    100 * dense_val_acc, len(yv)))
        layers, Ls, Hs = [], [], []
        if a.mode == "trec":
            layers = select_layers(model, a.layers)
            Ls = per_layer(a.L, layers, "L")
            Hs = per_layer(a.H, layers, "H")
            cidx = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(1))[:a.calib]
            cx = cifar_nets.normalize(cifar_data.to_float(x[cidx.numpy()]))
            make_trec(model, layers, Ls, Hs, a.init, cx, a.tau, a.seed, pixel=a.pixel)
            for n, m in model.named_modules():
                if isinstance(m, trec.TrecConv2d):
                    log("  %s: TREC K %d L %d H %d J %d tau %.3g%s" % (
                        n, m.K, m.L, m.H, m.J, m.tau, " pixel mode" if m.pixel else ""))
        set_fast(model, True, detach_x=not a.relax_x)
        if a.bn_recal > 0:
            recalibrate_bn(model, x, a.bn_recal, a.batch, a.seed)
            log("batch norms re-estimated on %d training images" % a.bn_recal)
        teacher = None
        if a.teacher:
            teacher = load_start(a.net, a.teacher)
            teacher.eval()
            for q in teacher.parameters():
                q.requires_grad_(False)
            log("distilling from %s (weight %.2f, temperature %.1f)" % (
                a.teacher, a.kd_weight, a.kd_temp))
        sec = train(model, x, y, a.epochs, a.lr, a.lr_proj, a.batch, a.per_epoch, a.wd,
                    a.seed, log, a.freeze_bn, a.progress, a.clip, teacher, a.kd_weight,
                    a.kd_temp) if a.epochs > 0 else 0.0
        t0 = time.time()
        acc, lstats = evaluate(model, xt, yt, fast=not a.exact_eval)
        s = mac_summary(model, lstats)
        log("final: top-1 %.2f%% (start %s) on %d test images (%.0f s)" % (
            100 * acc, "-" if dense_acc is None else "%.2f%%" % (100 * dense_acc), len(yt),
            time.time() - t0))
        val_acc = None
        if xv is not None:
            val_acc, _ = evaluate(model, xv, yv, fast=not a.exact_eval)
            log("final: val top-1 %.2f%% (start %s) on %d held-out training images" % (
                100 * val_acc, "-" if dense_val_acc is None else "%.2f%%" % (100 * dense_val_acc),
                len(yv)))
        for n, v in lstats.items():
            log("  %-16s L %3d%s H %2d: clusters/img %.0f (rows %.0f x J %d); MACs dense %.2fM "
                "reuse %.2fM hash %.2fM -> %.2fx" % (n, v["L"], " pixel" if v.get("pixel") else "",
                                                    v["H"], v["clusters"],
                                                    v["rows"], v["J"], v["dense"] / 1e6,
                                                    v["reuse"] / 1e6, v["hash"] / 1e6,
                                                    v["dense"] / v["done"]))
        if s["speedup_trec"]:
            log("TREC layers: %.2fM -> %.2fM MACs incl. hashing (%.2fx); whole net conv "
                "MACs %.2fM -> %.2fM (%.2fx)" % (s["trec_dense"] / 1e6, s["trec_done"] / 1e6,
                                                 s["speedup_trec"], s["net_dense"] / 1e6,
                                                 s["net_done"] / 1e6, s["speedup_net"]))
        tag = a.tag or ("dense" if a.mode == "dense" else "trec")
        rec = dict(net=a.net, tag=tag, mode=a.mode, src=a.src, layers=layers,
                   L=[lstats[n]["L"] for n in layers] if layers else [],
                   H=[int(h) for h in Hs], pixel=bool(a.pixel and layers),
                   init=a.init if layers else None,
                   tau_frac=a.tau if layers else None, epochs=a.epochs, clip=a.clip,
                   relax_x=a.relax_x, freeze_bn=a.freeze_bn, batch=a.batch,
                   bn_recal=a.bn_recal,
                   train_images_per_epoch=min(a.per_epoch or x.shape[0], x.shape[0]),
                   lr=a.lr, lr_proj=a.lr_proj, dense_acc=dense_acc, acc=acc,
                   teacher=a.teacher, kd_weight=a.kd_weight if a.teacher else None,
                   kd_temp=a.kd_temp if a.teacher else None,
                   eval_impl="reference" if a.exact_eval else "fast",
                   test_images=len(yt), holdout=a.holdout, val_acc=val_acc,
                   val_images=0 if yv is None else len(yv), dense_val_acc=dense_val_acc,
                   sec_per_epoch=sec, macs=s, argv=argv[1:],
                   time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        if not a.no_save:
            path = os.path.join(a.out_dir, "%s_%s.pt" % (a.net, tag))
            cifar_nets.save_checkpoint(path, model, a.net, rec)
            rec["ckpt"] = path
            with open(os.path.join(a.out_dir, "runs.jsonl"), "a") as f:
                f.write(json.dumps(rec) + "\n")
            log("saved %s" % path)
        return 0
    except (ValueError, FileNotFoundError, OSError) as e:
        sys.stderr.write("trec_train.py: %s\n" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
