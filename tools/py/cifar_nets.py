#!/usr/bin/python3
"""CIFAR-10 networks shared by the TREC tooling (trec_train.py, trec_ptq.py, the TFLite
exporters): a CifarNet-like net, akamaster's ResNet-20 (option-A shortcuts), the input
normalisation, and the swap of a named Conv2d for tools/py/trec.py's TrecConv2d.

Importing this module has no side effects (no file access, no torch settings).

API:
    MEAN, STD                    per-channel normalisation (numpy float32 [3]) of both nets
    normalize(x01)               [B,3,32,32] pixels in [0,1] (torch or numpy) -> net input
    CifarNet()                   conv1 5x5 3->64 +ReLU, pool1 2x2, conv2 5x5 64->64 +ReLU,
                                 pool2 2x2, flatten NCHW (4096), fc1 384 +ReLU, fc2 192
                                 +ReLU, fc3 10
    CifarNetHR()                 "cifarnet_hr": CifarNet with its wide conv at full
                                 resolution: conv1 5x5 3->32 +ReLU (32x32), conv2 3x3
                                 32->64 +ReLU (32x32), pool 2x2, conv3 3x3 64->64 +ReLU
                                 (16x16), pool 2x2, flatten NCHW (4096), fc1 384, fc2 192,
                                 fc3 10 (the same classifier)
    ResNet20(), BasicBlock       akamaster layout; state_dict keys = resnet20-12fca82f.th's
                                 without "module."
    load_resnet20(path)          the pretrained asset, eval mode
    build(net)                   "cifarnet" | "resnet20" -> a fresh module
    trec_layers(model)           [(name, Conv2d or TrecConv2d)] of the convs TREC may
                                 replace, in forward order
    to_trec(model, name, L, H, scope=trec.SCOPE_IMAGE, init="gauss", ..., pixel=False)
                                 swaps model.<name> (a Conv2d) for a TrecConv2d with the
                                 same weight and bias; returns the TrecConv2d (pixel: the
                                 shared-projection mode, L = the conv's in_channels)
    trec_config(model)           {name: {"L", "H", "scope", "tau", "pixel"}} of its
                                 TrecConv2d layers
    apply_trec_config(model, c)  re-creates those layers (before load_state_dict)
    save_checkpoint(path, model, net, meta) / load_checkpoint(path) -> (model, ckpt dict)

A TrecConv2d (trec.py) carries everything the exporter needs: .L (sub_len), .H
(hash_bits), .scope, .pixel, .proj [J, H, L] (pixel mode: [1, H, L]; proj_flat() gives the
C layout), .offset [J, H] (pixel mode: [1, H]),
.weight [out, in, kh, kw], .bias (None for ResNet-20's convs), .stride, .pad. The batch
norm after a conv stays a separate, untouched module.

Padding note: PyTorch pads symmetrically; ResNet-20's stride-2 convs (32 -> 16, 16 -> 8)
pad 1 on every side, unlike TFLite's SAME (0 before, 1 after) for those shapes.
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trec  # noqa: E402

# akamaster's pytorch_resnet_cifar10 trained ResNet-20 with these (ImageNet) statistics;
# trec_ptq.py has always used them, and CifarNet is trained here with the same ones.
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

NETS = ("cifarnet", "cifarnet_hr", "resnet20")


def normalize(x01):
    """Pixels in [0, 1], [B, 3, H, W] (torch tensor or numpy array) -> network input."""
    if isinstance(x01, np.ndarray):
        return (x01.astype(np.float32) - MEAN[None, :, None, None]) / STD[None, :, None, None]
    m = torch.as_tensor(MEAN, dtype=x01.dtype, device=x01.device).view(1, 3, 1, 1)
    s = torch.as_tensor(STD, dtype=x01.dtype, device=x01.device).view(1, 3, 1, 1)
    return (x01 - m) / s


# ---------------------------------------------------------------------------------------
# CifarNet

class _CifarClassifier(nn.Module):
    """CifarNet's classifier, shared by both CifarNets: a 64 x 8 x 8 map flattened in NCHW
    order (index c*64 + y*8 + x), fc1 384 + ReLU, fc2 192 + ReLU, fc3 to the classes."""

    def _add_classifier(self, num_classes):
        self.fc1 = nn.Linear(64 * 8 * 8, 384)
        self.fc2 = nn.Linear(384, 192)
        self.fc3 = nn.Linear(192, num_classes)

    def _classify(self, x):
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc3(F.relu(self.fc2(x)))


class CifarNet(_CifarClassifier):
    """The classic CIFAR-10 "CifarNet" (TensorFlow tutorial shape, without LRN)."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 5, padding=2)
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(64, 64, 5, padding=2)
        self.pool2 = nn.MaxPool2d(2, 2)
        self._add_classifier(num_classes)

    def forward(self, x):
        x = self.pool1(F.relu(self.conv1(x)))
        return self._classify(self.pool2(F.relu(self.conv2(x))))


class CifarNetHR(_CifarClassifier):
    """CifarNet-like, with the wide conv before the first pooling: its 32x32 input has
    four times the pixels of CifarNet's conv2 (16x16), the layer pixel-mode TREC is
    meant for (docs/trec_training.md, "CifarNet-HR")."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv3 = nn.Conv2d(64, 64, 3, padding=1)
        self.pool2 = nn.MaxPool2d(2, 2)
        self._add_classifier(num_classes)

    def forward(self, x):
        x = self.pool1(F.relu(self.conv2(F.relu(self.conv1(x)))))
        return self._classify(self.pool2(F.relu(self.conv3(x))))


# ---------------------------------------------------------------------------------------
# ResNet-20 (akamaster/pytorch_resnet_cifar10 layout, option-A shortcuts)

class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        # option A: subsample by 2 and zero-pad the channels (cout // 4 on each side)
        self.pad = cout // 4 if (stride != 1 or cin != cout) else None

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.pad is None:
            sc = x
        else:
            sc = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(out + sc)


class ResNet20(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers = []
        cin = 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for i in range(3):
                blocks.append(BasicBlock(cin, cout, stride if i == 0 else 1))
                cin = cout
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.linear = nn.Linear(64, num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


def load_resnet20(path):
    """ResNet-20 from akamaster's checkpoint (a dict with "state_dict", keys prefixed
    "module."), in eval mode. Raises ValueError naming the file when it does not fit."""
    ck = torch.load(path, map_location="cpu")
    sd = ck.get("state_dict", ck) if isinstance(ck, dict) else None
    if not isinstance(sd, dict):
        raise ValueError("%s: not a ResNet-20 state_dict" % path)
    sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}
    m = ResNet20()
    try:
        m.load_state_dict(sd)
    except RuntimeError as e:
        raise ValueError("%s: does not match ResNet-20 (%s)" % (path, str(e).splitlines()[0]))
    m.eval()
    return m


def build(net):
    if net == "cifarnet":
        return CifarNet()
    if net == "cifarnet_hr":
        return CifarNetHR()
    if net == "resnet20":
        return ResNet20()
    raise ValueError("unknown net %r (%s)" % (net, ", ".join(NETS)))


# ---------------------------------------------------------------------------------------
# TREC layers

def _parent(model, name):
    parts = name.split(".")
    mod = model
    for p in parts[:-1]:
        mod = getattr(mod, p)
    return mod, parts[-1]


def trec_layers(model):
    """[(name, module)] of the convolutions TREC may replace (every Conv2d, and those
    already replaced by a TrecConv2d), in forward order."""
    return [(n, m) for n, m in model.named_modules()
            if isinstance(m, (nn.Conv2d, trec.TrecConv2d))]


def _pca_proj(rows, L, H, gen, centre):
    """Per sub-vector j: the top-H principal directions of the calibration rows (random
    directions fill in when L_j < H) and, with centre, offsets -P . mean (hyperplanes
    through the calibration mean). rows: [n, K]. Returns (proj [J, H, L], offset [J, H])."""
    K = rows.shape[1]
    J = (K + L - 1) // L
    proj = torch.zeros(J, H, L)
    off = torch.zeros(J, H)
    for j in range(J):
        lj = min(L, K - j * L)
        X = rows[:, j * L: j * L + lj].double()
        mu = X.mean(0)
        Xc = X - mu
        cov = Xc.t() @ Xc / max(1, X.shape[0] - 1)
        evals, evecs = torch.linalg.eigh(cov)
        order = torch.argsort(evals, descending=True)
        P = evecs[:, order[:min(H, lj)]].t()
        if P.shape[0] < H:
            P = torch.cat([P, torch.randn(H - P.shape[0], lj, generator=gen).double()])
        proj[j, :, :lj] = P.float()
        if centre:
            off[j] = -(P @ mu).float()
    return proj, off


def to_trec(model, name, L, H, scope=trec.SCOPE_IMAGE, init="gauss", calib_rows=None,
            tau=1.0, seed=0, pixel=False):
    """Replaces the Conv2d model.<name> by a TrecConv2d (sub_len L, clamped to K; hash_bits
    H; scope) with the same weight, bias, stride, padding and dilation, and returns it.

    init: "gauss" (i.i.d. N(0,1) projections, zero offsets), "pca" or "pca+c" (top-H
    principal directions of each sub-vector of calib_rows [n, K], the conv's im2col input
    rows in filter order as given by trec.im2col_torch; "+c" puts the hyperplanes through
    the calibration mean), or "keep" when name already is a TrecConv2d of that L and H
    (nothing to do). The module is left in the model's training mode.

    pixel: pixel mode (shared projection; L must divide the conv's in_channels): per
    channel group of L channels one H x L
    projection for every input pixel; for pca / pca+c, calib_rows are then the conv's
    calibration *pixels* [n, in_channels] (its input's channel vectors, e.g.
    x.permute(0, 2, 3, 1).reshape(-1, C)), and "+c" gives offsets -P . mean pixel."""
    parent, attr = _parent(model, name)
    conv = getattr(parent, attr)
    if isinstance(conv, trec.TrecConv2d):
        if init == "keep":
            return conv
        raise ValueError("%s is already a TrecConv2d" % name)
    if not isinstance(conv, nn.Conv2d):
        raise ValueError("%s is not a Conv2d" % name)
    if conv.groups != 1 or not isinstance(conv.padding, tuple):
        raise ValueError("%s: only groups=1 and explicit integer padding are supported" % name)
    K = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
    L = min(int(L), K)
    if pixel and (L > conv.in_channels or conv.in_channels % L):
        raise ValueError("to_trec(%s): pixel mode needs L to divide in_channels (%d), not %d"
                         % (name, conv.in_channels, L))
    t = trec.TrecConv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                        conv.padding, conv.dilation, bias=conv.bias is not None, sub_len=L,
                        hash_bits=int(H), scope=scope, tau=tau, pixel=pixel)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        t.weight.copy_(conv.weight)
        if conv.bias is not None:
            t.bias.copy_(conv.bias)
        if init == "gauss":
            t.proj.copy_(torch.randn(t.proj.shape, generator=gen) * t.mask)
        elif init in ("pca", "pca+c"):
            if calib_rows is None:
                raise ValueError("to_trec(%s): init %s needs calib_rows" % (name, init))
            if pixel and calib_rows.shape[1] != conv.in_channels:
                raise ValueError("to_trec(%s): pixel mode wants calibration pixels [n, %d]"
                                 % (name, conv.in_channels))
            p, o = _pca_proj(calib_rows, L, t.H, gen, init == "pca+c")
            t.proj.copy_(p)
            t.offset.copy_(o)
        else:
            raise ValueError("to_trec(%s): unknown init %r" % (name, init))
    t.to(conv.weight.device)
    t.train(conv.training)
    setattr(parent, attr, t)
    return t


def trec_config(model):
    """{name: {"L", "H", "scope", "tau", "pixel"}} for every TrecConv2d in the model."""
    return {n: {"L": m.L, "H": m.H, "scope": m.scope, "tau": float(m.tau),
                "pixel": bool(m.pixel)}
            for n, m in model.named_modules() if isinstance(m, trec.TrecConv2d)}


def apply_trec_config(model, config):
    """Replaces the convs named in config by TrecConv2d of that shape (parameters to be
    filled by load_state_dict)."""
    for name, c in config.items():
        to_trec(model, name, c["L"], c["H"], scope=c.get("scope", trec.SCOPE_IMAGE),
                tau=c.get("tau", 1.0), pixel=bool(c.get("pixel", False)))
    return model


def save_checkpoint(path, model, net, meta=None):
    """{"net", "state_dict", "trec" (trec_config), "mean", "std", "meta"} via torch.save."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    torch.save({"net": net, "state_dict": model.state_dict(), "trec": trec_config(model),
                "mean": MEAN.tolist(), "std": STD.tolist(), "meta": dict(meta or {})}, path)


def load_checkpoint(path):
    """(model in eval mode, checkpoint dict) from a file written by save_checkpoint."""
    ck = torch.load(path, map_location="cpu")
    if not isinstance(ck, dict) or "net" not in ck or "state_dict" not in ck:
        raise ValueError("%s: not a trec_train checkpoint" % path)
    m = build(ck["net"])
    apply_trec_config(m, ck.get("trec", {}))
    m.load_state_dict(ck["state_dict"])
    m.eval()
    return m, ck


def conv_macs(model, hw=(32, 32)):
    """{name: dense MACs per image} of every conv in trec_layers(model)."""
    out = {}
    hooks = []
    for name, mod in trec_layers(model):
        def hook(m, inp, y, name=name):
            k = m.kernel_size if isinstance(m, nn.Conv2d) else (m.kh, m.kw)
            cin = m.in_channels if isinstance(m, nn.Conv2d) else m.in_c
            out[name] = (y.numel() // y.shape[0]) * cin * k[0] * k[1]
        hooks.append(mod.register_forward_hook(hook))
    was = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, hw[0], hw[1]))
    model.train(was)
    for h in hooks:
        h.remove()
    return out


if __name__ == "__main__":
    for n in NETS:
        m = build(n)
        macs = conv_macs(m)
        print("%s: %d params, conv MACs/image %.2fM: %s" % (
            n, sum(p.numel() for p in m.parameters()), sum(macs.values()) / 1e6,
            ", ".join("%s %.2fM" % (k, v / 1e6) for k, v in macs.items())))
