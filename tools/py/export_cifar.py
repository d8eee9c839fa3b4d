#!/usr/bin/python3
"""Export a PyTorch CIFAR-10 network (tools/py/cifar_nets.py: CifarNet or ResNet-20, dense
or with TREC layers) to what frugal's CNN runtime reads: an int8 TFLite file, optionally a
float one, and for TREC layers the sidecar file (docs/trec.md). Format choices and the
graph each net becomes: docs/trec_export.md.

usage:
  export_cifar.py NET CHECKPOINT|pretrained|random OUT_PREFIX [options]
      NET         cifarnet | cifarnet_hr | resnet20
      CHECKPOINT  a trec_train checkpoint (cifar_nets.save_checkpoint); "pretrained" =
                  akamaster's ResNet-20 asset; "random" = a freshly initialised net
                  (--seed), for tests
    writes OUT_PREFIX.tflite (int8), OUT_PREFIX_float.tflite (--float),
    OUT_PREFIX.tflite.trec (+ OUT_PREFIX_float.tflite.trec) when the model has TREC
    layers, OUT_PREFIX.json (summary) and OUT_PREFIX_eval.bin (the evaluation subset)
    --calib N          calibration images for the int8 ranges (default 200): training
                       images 0, k, 2k, ... (k = 50000 / N, class balanced) from
                       ../shared/assets/cnn/cifar10 (build/cifar10-train.npz when cached)
    --float            also write the float32 TFLite model
    --ptq L:H          replace convs by TREC layers with post-training projections (pca+c
                       on 16 of the calibration images, spread evenly over them:
                       numbers floor(k * N / 16), so every class; cifar_nets.to_trec); or
                       NAME=L:H,NAME=L:H,... for a per-layer choice
    --ptq-layers S     which convs for --ptq: wide (default: 3x3 with >= 32 outputs), all,
                       or comma-separated module names
    --ptq-pixel        --ptq in pixel mode (shared projection; L must divide the in_channels)
    --group NAME       the export's net name in index.json (default NET): the bench
                       groups entries by it and takes the group's dense export as the
                       baseline, so exports of another dense net (e.g. cifarnet_dense_e10
                       and the TREC nets trained from it) need their own group
    --dense TAG        the tag of that dense export (recorded, informative)
    A checkpoint in pixel mode (trec_train.py --pixel) gets a pixel-mode sidecar (types
    bit 3); the json records "pixel" (and per layer).
    --eval-every K     evaluation subset: every K-th test record (default 50: 200 images)
    --eval-limit N     only the first N of the subset (0 = all)
    --no-eval          skip the accuracy evaluation
    --frugal BIN       also run `BIN classify` on the exported files and compare
    --check-float N    compare the float TFLite (NumPy, tflite_run_ref) with PyTorch's
                       logits on N evaluation images; prints the largest difference
  export_cifar.py index DIR
      collects DIR/*.json into DIR/index.json (net = the --group, arch, pixel, dense)
  export_cifar.py predict MODEL.tflite CIFAR.bin [LIMIT]
      per-image top-1 class (NumPy graph), one line per record (for the C tests)
  export_cifar.py torch-logits NET CHECKPOINT|pretrained|random CIFAR.bin N
      PyTorch's logits on the first N records (for the C tests)
"""
import argparse
import contextlib
import copy
import io
import json
import os
import struct
import subprocess
import sys
import tarfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
ASSETS = os.environ.get("FR_ASSETS") or os.path.normpath(os.path.join(ROOT, "..", "shared", "assets"))
TEST_BIN = os.path.join(ASSETS, "cnn", "cifar10", "test_batch.bin")
TRAIN_TAR = os.path.join(ASSETS, "cnn", "cifar10", "train-jpeg.tar")
TRAIN_CACHE = os.path.join(ROOT, "build", "cifar10-train.npz")
RESNET20 = os.path.join(ASSETS, "cnn", "resnet-cifar", "resnet20-12fca82f.th")
CIFAR_REC = 3073
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck")

import tflite_writer as tw  # noqa: E402

# int8 input: scale 1, zero point -128, so `frugal classify` feeds pixel - 128 (the float
# range its quantisation covers is 0..255); the float model takes pixels 0..255 as well.
IN_SCALE, IN_ZP = 1.0, -128


# ---------------------------------------------------------------------------------------
# data

def calib_images(n):
    """n training images (uint8 [n, 3, 32, 32]): records 0, k, 2k, ... of the training set
    in sorted path order (k = 50000 // n; class balanced)."""
    if os.path.exists(TRAIN_CACHE):
        with np.load(TRAIN_CACHE) as z:
            x = z["x"]
        return np.ascontiguousarray(x[::max(1, x.shape[0] // n)][:n])
    from PIL import Image
    if not os.path.exists(TRAIN_TAR):
        raise SystemExit("export_cifar.py: %s: not found (training images for calibration)"
                         % TRAIN_TAR)
    with tarfile.open(TRAIN_TAR) as tf:
        members = sorted((m for m in tf.getmembers() if m.isfile() and
                          m.name.lower().endswith((".jpg", ".jpeg"))), key=lambda m: m.name)
        out = []
        for m in members[::max(1, len(members) // n)][:n]:
            with Image.open(io.BytesIO(tf.extractfile(m).read())) as im:
                out.append(np.asarray(im.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1))
    return np.stack(out)


def test_records(every, limit):
    raw = np.fromfile(TEST_BIN, dtype=np.uint8)
    recs = raw[:raw.size // CIFAR_REC * CIFAR_REC].reshape(-1, CIFAR_REC)[::every]
    return recs[:limit] if limit else recs


# ---------------------------------------------------------------------------------------
# the network as a list of float layers (BN folded)

def conv_params(mod):
    """(weight OIHW, bias or None, stride, pad) of an nn.Conv2d or trec.TrecConv2d."""
    import trec
    if isinstance(mod, trec.TrecConv2d):
        if tuple(mod.pad) != tuple(mod.pad_after) or mod.dil != (1, 1):
            raise SystemExit("export_cifar.py: TREC conv with asymmetric padding or dilation")
        stride, pad = mod.stride, mod.pad
    else:
        if mod.groups != 1 or mod.dilation != (1, 1) or not isinstance(mod.padding, tuple):
            raise SystemExit("export_cifar.py: only plain convs (groups 1, dilation 1)")
        stride, pad = mod.stride, mod.padding
    if stride[0] != stride[1] or pad[0] != pad[1]:
        raise SystemExit("export_cifar.py: only square strides and paddings")
    w = mod.weight.detach().double().numpy()
    b = None if mod.bias is None else mod.bias.detach().double().numpy()
    return w, b, stride[0], pad[0]


def fold_bn(w, b, bn):
    g = bn.weight.detach().double().numpy()
    beta = bn.bias.detach().double().numpy()
    mu = bn.running_mean.detach().double().numpy()
    var = bn.running_var.detach().double().numpy()
    k = g / np.sqrt(var + bn.eps)
    b0 = np.zeros(w.shape[0]) if b is None else b
    return w * k[:, None, None, None], beta + (b0 - mu) * k


def build_layers(net, model):
    """Float layers of the exported graph, in op order, each a dict with "op", inputs and
    output tensor names; convs carry "name" (module) and "trec" (the TrecConv2d or None)."""
    import cifar_nets as cn
    import trec
    L = []
    mean = cn.MEAN.astype(np.float64)
    std = cn.STD.astype(np.float64)
    L.append(dict(op="norm", x="input", y="norm", w=1.0 / (255.0 * std), b=-mean / std))

    def conv(name, mod, x, y, act, bn=None):
        w, b, s, p = conv_params(mod)
        if bn is not None:
            w, b = fold_bn(w, b, bn)
        elif b is None:
            b = np.zeros(w.shape[0])
        L.append(dict(op="conv", name=name, x=x, y=y, w=w, b=b, stride=s, pad=p, act=act,
                      trec=mod if isinstance(mod, trec.TrecConv2d) else None))

    if net == "resnet20":
        conv("conv1", model.conv1, "norm", "conv1", "RELU", model.bn1)
        x = "conv1"
        for li in (1, 2, 3):
            for bi, blk in enumerate(getattr(model, "layer%d" % li)):
                pre = "layer%d.%d" % (li, bi)
                conv(pre + ".conv1", blk.conv1, x, pre + ".conv1", "RELU", blk.bn1)
                conv(pre + ".conv2", blk.conv2, pre + ".conv1", pre + ".conv2", "NONE", blk.bn2)
                sc = x
                if blk.pad is not None:
                    cin = blk.conv1.weight.shape[1]
                    cout = blk.conv1.weight.shape[0]
                    w = np.zeros((cout, cin, 1, 1))
                    w[blk.pad + np.arange(cin), np.arange(cin), 0, 0] = 1.0
                    sc = pre + ".shortcut"
                    L.append(dict(op="conv", name=sc, x=x, y=sc, w=w, b=np.zeros(cout),
                                  stride=2, pad=0, act="NONE", trec=None, shortcut=True))
                L.append(dict(op="add", a=pre + ".conv2", b=sc, y=pre, act="RELU"))
                x = pre
        L.append(dict(op="avgpool", x=x, y="avgpool", k=8))
        L.append(dict(op="reshape", x="avgpool", y="flatten", n=64))
        L.append(dict(op="fc", name="linear", x="flatten", y="logits",
                      w=model.linear.weight.detach().double().numpy(),
                      b=model.linear.bias.detach().double().numpy(), act="NONE"))
    elif net in ("cifarnet", "cifarnet_hr"):
        conv("conv1", model.conv1, "norm", "conv1", "RELU")
        if net == "cifarnet":
            L.append(dict(op="maxpool", x="conv1", y="pool1", k=2))
            conv("conv2", model.conv2, "pool1", "conv2", "RELU")
            last = model.conv2
        else:
            conv("conv2", model.conv2, "conv1", "conv2", "RELU")
            L.append(dict(op="maxpool", x="conv2", y="pool1", k=2))
            conv("conv3", model.conv3, "pool1", "conv3", "RELU")
            last = model.conv3
        L.append(dict(op="maxpool", x=L[-1]["y"], y="pool2", k=2))
        c = last.weight.shape[0]
        L.append(dict(op="reshape", x="pool2", y="flatten", n=c * 64))
        # PyTorch flattens NCHW (c*64 + y*8 + x); TFLite's RESHAPE of NHWC gives
        # (y*8 + x)*C + c: permute fc1's columns accordingly
        w1 = model.fc1.weight.detach().double().numpy()
        w1 = w1.reshape(w1.shape[0], c, 8, 8).transpose(0, 2, 3, 1).reshape(w1.shape[0], -1)
        for i, (nm, w, act) in enumerate((("fc1", w1, "RELU"), ("fc2", None, "RELU"),
                                          ("fc3", None, "NONE"))):
            mod = getattr(model, nm)
            L.append(dict(op="fc", name=nm, x="flatten" if i == 0 else "fc%d" % i,
                          y="logits" if nm == "fc3" else nm,
                          w=mod.weight.detach().double().numpy() if w is None else w,
                          b=mod.bias.detach().double().numpy(), act=act))
    else:
        raise SystemExit("export_cifar.py: unknown net %r (cifarnet, cifarnet_hr, resnet20)"
                         % net)
    return L


def tflite_kernel(k, stride, pad, n):
    """TFLite SAME padding puts the smaller half before; PyTorch pads `pad` on both sides.
    Returns (k2, padding): the kernel size (>= k, zero-extended at the end) and padding with
    which TFLite reads the same pixels as PyTorch for an n x n input."""
    t_out = (n + 2 * pad - k) // stride + 1
    if pad == 0 and (n - k + stride) // stride == t_out:
        return k, "VALID"
    for k2 in range(k, k + 3):
        out = (n + stride - 1) // stride
        before = max((out - 1) * stride + k2 - n, 0) // 2
        if out == t_out and before == pad:
            return k2, "SAME"
    raise SystemExit("export_cifar.py: no TFLite padding reads like PyTorch's pad %d "
                     "(kernel %d, stride %d, input %d)" % (pad, k, stride, n))


# ---------------------------------------------------------------------------------------
# float execution (torch, NCHW) of the layer list: calibration and checks

def run_float(layers, px, record=None):
    """Runs the layers on pixels px (uint8/float [B, 3, 32, 32], values 0..255); returns the
    logits [B, classes] (float64) and calls record(name, tensor) for every output."""
    import torch
    import torch.nn.functional as F
    v = {"input": torch.as_tensor(np.asarray(px), dtype=torch.float64)}
    for ly in layers:
        op = ly["op"]
        if op == "norm":
            y = v[ly["x"]] * torch.tensor(ly["w"]).view(1, -1, 1, 1) + \
                torch.tensor(ly["b"]).view(1, -1, 1, 1)
        elif op == "conv":
            x = v[ly["x"]]
            if ly["trec"] is not None:
                t = copy.deepcopy(ly["trec"]).double().eval()
                with torch.no_grad():
                    t.weight.copy_(torch.tensor(ly["w"]))
                    t.bias = None
                y = t(x) + torch.tensor(ly["b"]).view(1, -1, 1, 1)
            else:
                y = F.conv2d(x, torch.tensor(ly["w"]), torch.tensor(ly["b"]), ly["stride"],
                             ly["pad"])
            if ly["act"] == "RELU":
                y = F.relu(y)
        elif op == "maxpool":
            y = F.max_pool2d(v[ly["x"]], ly["k"], ly["k"])
        elif op == "add":
            y = v[ly["a"]] + v[ly["b"]]
            if ly["act"] == "RELU":
                y = F.relu(y)
        elif op == "avgpool":
            y = F.avg_pool2d(v[ly["x"]], ly["k"])
        elif op == "reshape":
            y = v[ly["x"]].permute(0, 2, 3, 1).reshape(v[ly["x"]].shape[0], -1)  # NHWC order
        elif op == "fc":
            y = v[ly["x"]] @ torch.tensor(ly["w"]).T + torch.tensor(ly["b"])
            if ly["act"] == "RELU":
                y = F.relu(y)
        v[ly["y"]] = y
        if record is not None:
            with torch.no_grad():
                record(ly["y"], y)
    return v[layers[-1]["y"]].detach().numpy()


# ---------------------------------------------------------------------------------------
# int8 quantisation (TFLite conventions)

def f32(x):
    return float(np.float32(x))


def act_qparams(lo, hi):
    """Asymmetric int8 (scale, zero point) covering [min(lo, 0), max(hi, 0)]."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-8:
        hi = lo + 1e-8
    scale = f32((hi - lo) / 255.0)
    zp = int(np.clip(np.round(-128 - lo / scale), -128, 127))
    return scale, zp


def quant_weights(w, axis_out):
    """Symmetric per-channel int8 along axis_out: (int8 array, float32 scales)."""
    wm = np.moveaxis(w, axis_out, 0)
    m = np.abs(wm.reshape(wm.shape[0], -1)).max(1)
    scale = np.where(m > 0, m / 127.0, 1.0).astype(np.float32)
    shape = [1] * w.ndim
    shape[axis_out] = -1
    q = np.clip(np.round(w / scale.astype(np.float64).reshape(shape)), -127, 127)
    return q.astype(np.int8), scale


def quant_bias(b, s_in, s_w):
    bs = np.float64(np.float32(s_in)) * s_w.astype(np.float64)
    return np.clip(np.round(b / bs), -2 ** 31, 2 ** 31 - 1).astype("<i4")


# ---------------------------------------------------------------------------------------
# TFLite graphs

def write_graph(layers, ranges, quant, desc):
    """Builds the TFLite model (int8 when quant, else float32). ranges: {tensor: (lo, hi)}
    from calibration. Returns (bytes, {conv name: (op index, input scale, k2)})."""
    b = tw.ModelBuilder(desc)
    T = {}      # tensor name -> index
    Q = {}      # tensor name -> (scale, zp)
    shapes = {"input": [1, 32, 32, 3]}
    convs = {}

    def new(name, shape, q=None):
        shapes[name] = shape
        if quant:
            Q[name] = q
            T[name] = b.tensor(name, shape, tw.INT8, scale=[q[0]], zero_point=[q[1]])
        else:
            T[name] = b.tensor(name, shape, tw.FLOAT32)
        return T[name]

    new("input", [1, 32, 32, 3], (IN_SCALE, IN_ZP))
    for ly in layers:
        op = ly["op"]
        y = ly["y"]
        if op in ("norm", "conv", "fc"):
            x = ly["x"]
            xs = shapes[x]
            if op == "norm":
                w = np.asarray(ly["w"]).reshape(1, 1, 1, -1)   # [1, 1, 1, C]
                axis, out_c = 3, w.shape[3]
                oshape = list(xs)
                opname, opts = "DEPTHWISE_CONV_2D", dict(padding="SAME", stride=(1, 1))
            elif op == "conv":
                k = ly["w"].shape[2]
                k2, padding = tflite_kernel(k, ly["stride"], ly["pad"], xs[1])
                w = np.zeros((ly["w"].shape[0], k2, k2, ly["w"].shape[1]))
                w[:, :k, :k, :] = ly["w"].transpose(0, 2, 3, 1)     # OIHW -> OHWI
                axis, out_c = 0, w.shape[0]
                oh = (xs[1] + 2 * ly["pad"] - k) // ly["stride"] + 1
                oshape = [1, oh, oh, out_c]
                opname = "CONV_2D"
                opts = dict(padding=padding, stride=(ly["stride"], ly["stride"]), act=ly["act"])
            else:
                w = np.asarray(ly["w"])
                axis, out_c = 0, w.shape[0]
                oshape = [1, out_c]
                opname, opts = "FULLY_CONNECTED", dict(act=ly["act"])
            if quant:
                s_in = Q[x][0]
                if ly.get("shortcut"):
                    # option-A shortcut: exact copy of the selected channels, same quantisation
                    wq = np.round(w * 127).astype(np.int8)
                    s_w = np.full(out_c, 1.0 / 127, dtype=np.float32)
                    qy = Q[x]
                else:
                    wq, s_w = quant_weights(w, axis)
                    qy = act_qparams(*ranges[y])
                wt = b.tensor(y + "/weights", list(w.shape), tw.INT8, wq.tobytes(),
                              scale=s_w.tolist(), zero_point=[0] * out_c, qdim=axis)
                bq = quant_bias(np.asarray(ly["b"]), s_in, s_w)
                bt = b.tensor(y + "/bias", [out_c], tw.INT32, bq.tobytes(),
                              scale=(np.float32(s_in) * s_w).tolist(), zero_point=[0] * out_c)
                new(y, oshape, qy)
            else:
                wt = b.tensor(y + "/weights", list(w.shape), tw.FLOAT32,
                              w.astype("<f4").tobytes())
                bt = b.tensor(y + "/bias", [out_c], tw.FLOAT32,
                              np.asarray(ly["b"]).astype("<f4").tobytes())
                new(y, oshape)
            idx = b.op(opname, [T[x], wt, bt], [T[y]], **opts)
            if op == "conv":
                convs[ly["name"]] = (idx, Q[x][0] if quant else None, w.shape[1], xs[3])
        elif op == "maxpool":
            xs = shapes[ly["x"]]
            k = ly["k"]
            new(y, [1, xs[1] // k, xs[2] // k, xs[3]], Q.get(ly["x"]))
            b.op("MAX_POOL_2D", [T[ly["x"]]], [T[y]], padding="VALID", stride=(k, k),
                 filter=(k, k))
        elif op == "avgpool":
            xs = shapes[ly["x"]]
            k = ly["k"]
            new(y, [1, xs[1] // k, xs[2] // k, xs[3]], Q.get(ly["x"]))
            b.op("AVERAGE_POOL_2D", [T[ly["x"]]], [T[y]], padding="VALID", stride=(k, k),
                 filter=(k, k))
        elif op == "add":
            new(y, shapes[ly["a"]], act_qparams(*ranges[y]) if quant else None)
            b.op("ADD", [T[ly["a"]], T[ly["b"]]], [T[y]], act=ly["act"])
        elif op == "reshape":
            shp = b.tensor(y + "/shape", [2], tw.INT32, struct.pack("<2i", 1, ly["n"]))
            new(y, [1, ly["n"]], Q.get(ly["x"]))
            b.op("RESHAPE", [T[ly["x"]], shp], [T[y]])
    out = layers[-1]["y"]
    return b.finish([T["input"]], [T[out]]), convs, len(b.ops)


def trec_records(layers, convs):
    """Sidecar records (float and int8 data) of the TREC convs, keyed by CONV_2D op index.
    A conv whose kernel was zero-extended for TFLite's padding (k2 > k) gets its
    projections moved to the same taps of the larger kernel (zero projections on the new
    taps: one cluster each, whose partial products are 0); that needs L | in_c."""
    import trec
    recs = []
    for ly in layers:
        if ly["op"] != "conv" or ly["trec"] is None:
            continue
        m = ly["trec"]
        op, s_in, k2, in_c = convs[ly["name"]]
        r = trec.export_layer(m, op, s_in)
        if r["proj_s8"] is None:
            raise SystemExit("export_cifar.py: %s: no int8 projections" % ly["name"])
        k = m.kh
        if k2 != k and r.get("pixel"):
            # pixel mode: one projection for every tap, so only K grows (the new taps
            # read centroids through zero filter weights)
            r = dict(r, K=k2 * k2 * in_c)
        elif k2 != k:
            L, H = m.L, m.H
            if in_c % L:
                raise SystemExit("export_cifar.py: %s: exported as a %dx%d conv (TFLite "
                                 "padding), which needs L (%d) to divide in_c (%d)" %
                                 (ly["name"], k2, k2, L, in_c))
            per_tap = in_c // L
            K2 = k2 * k2 * in_c
            J2 = K2 // L
            out = dict(r, K=K2)
            for key, blk in (("proj_f32", H * L), ("proj_s8", H * L),
                             ("offset_f32", H), ("offset_s32", H)):
                a = r.get(key)
                if a is None:
                    continue
                a = np.asarray(a)
                z = np.zeros(J2 * blk, dtype=a.dtype)
                for fy in range(k):
                    for fx in range(k):
                        for q in range(per_tap):
                            j = (fy * k + fx) * per_tap + q
                            j2 = (fy * k2 + fx) * per_tap + q
                            z[j2 * blk:(j2 + 1) * blk] = a[j * blk:(j + 1) * blk]
                out[key] = z
            r = out
        r["name"] = ly["name"]
        recs.append(r)
    return recs


# ---------------------------------------------------------------------------------------
# models

def load_model(net, ckpt, seed):
    import torch
    import cifar_nets as cn
    if ckpt == "pretrained":
        if net != "resnet20":
            raise SystemExit("export_cifar.py: 'pretrained' exists for resnet20 only")
        return cn.load_resnet20(RESNET20), {}
    if ckpt == "random":
        # seeded initialisation; the classifier biases are zeroed so that the (untrained)
        # predictions depend on the image rather than on the biases
        torch.manual_seed(seed)
        m = cn.build(net)
        for mod in m.modules():
            if isinstance(mod, torch.nn.Linear):
                torch.nn.init.zeros_(mod.bias)
        m.eval()
        return m, {}
    if not os.path.isfile(ckpt):
        raise SystemExit("export_cifar.py: %s: no such checkpoint file" % ckpt)
    try:
        m, ck = cn.load_checkpoint(ckpt)
    except Exception as e:  # torch.load / load_state_dict raise many kinds
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SystemExit("export_cifar.py: %s: cannot load checkpoint: %s" % (ckpt, msg))
    if ck.get("net") != net:
        raise SystemExit("export_cifar.py: %s: is a %s checkpoint, not %s" %
                         (ckpt, ck.get("net"), net))
    return m, ck


def apply_ptq(model, spec, which, calib_px, pixel=False):
    """Replaces convs by TrecConv2d with pca+c projections from calibration rows (pixel:
    pixel mode, from the calibration pixels)."""
    import torch
    import torch.nn as nn
    import cifar_nets as cn
    import trec
    def lh(t):
        try:
            L, H = (int(v) for v in t.split(":"))
        except ValueError:
            raise SystemExit("export_cifar.py: --ptq: expected L:H or NAME=L:H,..., got %r"
                             % spec)
        if L < 1 or not 1 <= H <= 16:
            raise SystemExit("export_cifar.py: --ptq: L must be >= 1 and H in 1..16")
        return L, H
    convs = [(n, m) for n, m in cn.trec_layers(model) if isinstance(m, nn.Conv2d)]
    per = {}
    if "=" in spec:  # per-layer: NAME=L:H,NAME=L:H (--ptq-layers is ignored)
        for item in spec.split(","):
            name, _, t = item.partition("=")
            per[name] = lh(t)
        which = ",".join(per)
    else:
        L, H = lh(spec)
    if which == "all":
        names = [n for n, _ in convs]
    elif which == "wide":
        names = [n for n, m in convs if m.kernel_size[0] > 1 and m.out_channels >= 32]
    else:
        names = which.split(",")
        known = {n for n, _ in convs}
        for n in names:
            if n not in known:
                raise SystemExit("export_cifar.py: --ptq-layers: no conv named %r" % n)
    # 16 images spread evenly over the calibration set, which follows the training set's
    # class-sorted order (until 2026-11-24 23:57 UTC the first 16 were taken: with the
    # default 200, all airplanes)
    n = min(16, len(calib_px))
    pick = np.arange(n) * len(calib_px) // n
    x = cn.normalize(torch.as_tensor(calib_px[pick], dtype=torch.float32) / 255.0)
    for name in names:  # in forward order: later layers see the earlier TREC outputs
        mod = dict(cn.trec_layers(model))[name]
        rows = []

        def hook(m, inp, out):
            xin = inp[0]
            if pixel:
                rows.append(xin.permute(0, 2, 3, 1).reshape(-1, xin.shape[1]).detach())
                return
            oh = (xin.shape[2] + 2 * m.padding[0] - m.kernel_size[0]) // m.stride[0] + 1
            r = trec.im2col_torch(xin, m.kernel_size[0], m.kernel_size[1], m.stride,
                                  m.dilation, m.padding[0], m.padding[1], oh, oh)
            rows.append(r.reshape(-1, r.shape[-1]).detach())
        h = mod.register_forward_hook(hook)
        with torch.no_grad():
            model(x)
        h.remove()
        if per:
            L, H = per[name]
        cn.to_trec(model, name, L, H, init="pca+c", calib_rows=torch.cat(rows),
                   pixel=pixel).eval()
    model.eval()
    return names


# ---------------------------------------------------------------------------------------
# evaluation

def torch_accuracy(model, recs):
    import torch
    import cifar_nets as cn
    px = recs[:, 1:].reshape(-1, 3, 32, 32)
    correct = 0
    with torch.no_grad():
        for i in range(0, len(recs), 100):
            x = cn.normalize(torch.as_tensor(px[i:i + 100], dtype=torch.float32) / 255.0)
            correct += int((model(x).argmax(1).numpy() == recs[i:i + 100, 0]).sum())
    return correct, len(recs)


def py_eval(model_path, subset_path, trec_path=None):
    """trec_tflite.py eval's output (NumPy TFLite int8 semantics + NumPy TREC twin)."""
    import trec_tflite
    args = argparse.Namespace(model=model_path, cifar=subset_path, trec=trec_path, limit=0)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        trec_tflite.evaluate(args)
    return buf.getvalue()


def accuracy_line(s):
    for line in s.splitlines()[::-1]:
        if line.startswith("accuracy: "):
            return line
    return None


def check_float(model, layers, float_path, recs, n):
    """Largest |TFLite float (NumPy) - PyTorch| logit difference on n images, and of the
    exported layer list (torch float64) against the PyTorch model."""
    import torch
    import cifar_nets as cn
    import tflite_inspect as ti
    import tflite_run_ref as rr
    m = ti.load(float_path)
    px = recs[:n, 1:].reshape(-1, 3, 32, 32)
    with torch.no_grad():
        ref = model(cn.normalize(torch.as_tensor(px, dtype=torch.float32) / 255.0)).double().numpy()
    ours = run_float(layers, px)
    tfl = []
    for p in px:
        vals = {m["inputs"][0]: p.transpose(1, 2, 0).astype(np.float32)[None]}
        for op in m["ops"]:
            vals[op["outputs"][0]] = rr.run_op(m, op, vals)
        tfl.append(vals[m["outputs"][0]].reshape(-1))
    tfl = np.array(tfl, dtype=np.float64)
    return float(np.abs(tfl - ref).max()), float(np.abs(ours - ref).max()), \
        float(np.abs(ref).max())


def run_frugal(binary, model, subset, trec_path=None):
    cmd = [binary, "classify", "-m", model, "--cifar10", subset]
    if trec_path:
        cmd += ["--reuse", "trec", "--trec", trec_path]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode:
        raise SystemExit("export_cifar.py: %s failed: %s" % (" ".join(cmd), p.stdout.strip()))
    return p.stdout


# ---------------------------------------------------------------------------------------

def export(args):
    import torch
    torch.set_num_threads(1)
    model, ck = load_model(args.net, args.checkpoint, args.seed)
    calib = calib_images(args.calib)
    if args.ptq:
        apply_ptq(model, args.ptq, args.ptq_layers, calib, pixel=args.ptq_pixel)
    layers = build_layers(args.net, model)

    ranges = {}

    def record(name, t):
        lo, hi = float(t.min()), float(t.max())
        o = ranges.get(name)
        ranges[name] = (lo, hi) if o is None else (min(o[0], lo), max(o[1], hi))
    for i in range(0, len(calib), 50):
        run_float(layers, calib[i:i + 50], record)
    # the normalisation's output range is known exactly: pixels 0..255
    nw, nb = layers[0]["w"], layers[0]["b"]
    ranges["norm"] = (float(np.min(nb)), float(np.max(255.0 * nw + nb)))

    os.makedirs(os.path.dirname(os.path.abspath(args.out_prefix)), exist_ok=True)
    desc = "frugal export_cifar %s %s" % (args.net, os.path.basename(args.checkpoint))
    int8_path = args.out_prefix + ".tflite"
    data, convs, n_ops = write_graph(layers, ranges, True, desc + " int8")
    with open(int8_path, "wb") as f:
        f.write(data)
    float_path = None
    if args.float:
        float_path = args.out_prefix + "_float.tflite"
        fdata, fconvs, _ = write_graph(layers, ranges, False, desc + " float32")
        with open(float_path, "wb") as f:
            f.write(fdata)
        assert {k: v[0] for k, v in fconvs.items()} == {k: v[0] for k, v in convs.items()}
    recs = trec_records(layers, convs)
    trec_path = None
    for stale in (int8_path + ".trec", (float_path or int8_path) + ".trec"):
        if os.path.exists(stale):  # a sidecar from an earlier export to this prefix
            os.remove(stale)
    if recs:
        import trec
        trec_path = int8_path + ".trec"
        trec.write_sidecar(trec_path, recs)
        if float_path:
            trec.write_sidecar(float_path + ".trec", recs)
    # kernel: the TFLite kernel size (4 for the stride-2 3x3 convs of ResNet-20, whose
    # fourth row and column are zero: their dense MACs count 16/9 of the PyTorch conv's)
    tlayers = [dict(name=r["name"], op=r["op"], L=r["sub_len"], H=r["hash_bits"], K=r["K"],
                    kernel=convs[r["name"]][2], pixel=bool(r.get("pixel"))) for r in recs]
    print("%s: %d ops, %d bytes (int8)%s" % (int8_path, n_ops, len(data),
                                             "; %s" % float_path if float_path else ""))
    for t in tlayers:
        print("trec layer %s: op %d, L %d, H %d, K %d%s" % (t["name"], t["op"], t["L"], t["H"],
                                                         t["K"], " (pixel mode)" if t["pixel"] else ""))
    if trec_path:
        print("wrote %s (%d layers)" % (trec_path, len(recs)))
    Ls = sorted({t["L"] for t in tlayers})
    Hs = sorted({t["H"] for t in tlayers})
    summary = dict(net=args.net, tag=args.tag or os.path.basename(args.out_prefix),
                   checkpoint=args.checkpoint, L=Ls[0] if len(Ls) == 1 else Ls or None,
                   H=Hs[0] if len(Hs) == 1 else Hs or None,
                   pixel=any(t["pixel"] for t in tlayers), layers=tlayers,
                   group=args.group or args.net, dense=args.dense,
                   ptq=args.ptq or None, int8_tflite=os.path.abspath(int8_path),
                   float_tflite=os.path.abspath(float_path) if float_path else None,
                   trec=os.path.abspath(trec_path) if trec_path else None,
                   float_trec=os.path.abspath(float_path + ".trec") if float_path and trec_path else None,
                   calib_images=len(calib), meta=ck.get("meta") if ck else None)
    if not args.no_eval:
        recs_eval = test_records(args.eval_every, args.eval_limit)
        subset = args.out_prefix + "_eval.bin"
        recs_eval.tofile(subset)
        c, n = torch_accuracy(model, recs_eval)
        summary["eval_subset"] = dict(path=os.path.abspath(subset), every=args.eval_every,
                                      images=n)
        summary["torch_accuracy"] = c / n
        print("torch float: accuracy: %.4f (%d/%d)" % (c / n, c, n))
        dense = accuracy_line(py_eval(int8_path, subset))
        summary["py_accuracy_int8_dense"] = float(dense.split()[1])
        summary["py_line_int8_dense"] = dense
        print("python int8 dense: %s" % dense)
        if trec_path:
            out = py_eval(int8_path, subset, trec_path)
            line = accuracy_line(out)
            print("python int8 trec:")
            print(out.rstrip())
            summary["py_line_int8_trec"] = line
            summary["py_accuracy_int8"] = float(line.split()[1])
        else:
            summary["py_accuracy_int8"] = summary["py_accuracy_int8_dense"]
        if float_path:  # the float graph in NumPy (float64 sums), with its sidecar
            summary["py_line_float_dense"] = accuracy_line(py_eval(float_path, subset))
            print("python float dense: %s" % summary["py_line_float_dense"])
            if trec_path:
                summary["py_line_float_trec"] = accuracy_line(
                    py_eval(float_path, subset, float_path + ".trec"))
                print("python float trec: %s" % summary["py_line_float_trec"])
        if args.frugal:
            cl = accuracy_line(run_frugal(args.frugal, int8_path, subset))
            summary["c_line_int8_dense"] = cl
            print("frugal int8 dense: %s (%s)" % (cl, "== python" if cl == dense else "DIFFERS"))
            if trec_path:
                co = run_frugal(args.frugal, int8_path, subset, trec_path)
                ct = accuracy_line(co)
                summary["c_line_int8_trec"] = ct
                summary["c_trec_macs_int8"] = next((ln for ln in co.splitlines()
                                                    if ln.startswith("trec: ")), None)
                print("frugal int8 %s" % summary["c_trec_macs_int8"])
                print("frugal int8 trec: %s (%s)" % (
                    ct, "== python" if ct == summary["py_line_int8_trec"] else "DIFFERS"))
            if float_path:
                cf = accuracy_line(run_frugal(args.frugal, float_path, subset))
                summary["c_line_float_dense"] = cf
                print("frugal float dense: %s (%s)" % (
                    cf, "== python" if cf == summary.get("py_line_float_dense") else "DIFFERS"))
                if trec_path:
                    cft = accuracy_line(run_frugal(args.frugal, float_path, subset,
                                                   float_path + ".trec"))
                    summary["c_line_float_trec"] = cft
                    print("frugal float trec: %s (%s)" % (
                        cft, "== python" if cft == summary.get("py_line_float_trec")
                        else "DIFFERS (float: a near-tie may flip)"))
    if args.check_float and float_path:
        recs_eval = test_records(args.eval_every, args.check_float)
        d_tfl, d_layers, mag = check_float(model, layers, float_path, recs_eval, args.check_float)
        summary["float_check"] = dict(images=args.check_float, max_abs_diff_tflite=d_tfl,
                                      max_abs_diff_layers=d_layers, max_abs_logit=mag)
        print("float check: max |tflite - torch| = %.3g, max |layers - torch| = %.3g "
              "(max |logit| %.3g) on %d images" % (d_tfl, d_layers, mag, args.check_float))
    with open(args.out_prefix + ".json", "w") as f:
        json.dump(summary, f, indent=1)
    print("wrote %s.json" % args.out_prefix)
    return 0


def predict(argv):
    """Per-image top-1 class of a TFLite model (NumPy graph, tflite_run_ref.py semantics),
    one line per record: the per-image twin of the accuracy line."""
    import tflite_inspect as ti
    import tflite_run_ref as rr
    import trec_tflite
    if len(argv) not in (2, 3):
        raise SystemExit("usage: export_cifar.py predict MODEL.tflite CIFAR.bin [LIMIT]")
    m = ti.load(argv[0])
    raw = np.fromfile(argv[1], dtype=np.uint8)
    recs = raw[:raw.size // CIFAR_REC * CIFAR_REC].reshape(-1, CIFAR_REC)
    if len(argv) == 3 and int(argv[2]) > 0:
        recs = recs[:int(argv[2])]
    for r in recs:
        vals = {m["inputs"][0]: trec_tflite.model_input(m, r[1:].reshape(3, 32, 32).transpose(1, 2, 0))}
        for op in m["ops"]:
            vals[op["outputs"][0]] = rr.run_op(m, op, vals)
        print(int(np.argmax(vals[m["outputs"][0]].reshape(-1))))
    return 0


def torch_logits(argv):
    """PyTorch logits of a (dense) net on the first N records, one line of 10 per image."""
    import torch
    import cifar_nets as cn
    if len(argv) != 4:
        raise SystemExit("usage: export_cifar.py torch-logits NET CHECKPOINT CIFAR.bin N")
    torch.set_num_threads(1)
    model, _ = load_model(argv[0], argv[1], 0)
    raw = np.fromfile(argv[2], dtype=np.uint8)
    recs = raw[:raw.size // CIFAR_REC * CIFAR_REC].reshape(-1, CIFAR_REC)[:int(argv[3])]
    with torch.no_grad():
        y = model(cn.normalize(torch.as_tensor(recs[:, 1:].reshape(-1, 3, 32, 32),
                                               dtype=torch.float32) / 255.0))
    for row in y.double().numpy():
        print(" ".join("%.9g" % v for v in row))
    return 0


def index(d):
    """DIR/index.json: one entry per DIR/*.json export summary. "net" is the export's
    group (--group; default the architecture, also given as "arch"): bench/trec/run.py
    takes the first dense entry (no sidecar, in file-name order) of a group as the
    baseline of that group's TREC entries, so exports from another dense net get their
    own group (and "dense" names the baseline's tag when the export recorded it)."""
    out = []
    for fn in sorted(os.listdir(d)):
        if not fn.endswith(".json") or fn == "index.json":
            continue
        with open(os.path.join(d, fn)) as f:
            s = json.load(f)
        e = {k: s.get(k) for k in ("net", "tag", "L", "H", "layers", "int8_tflite",
                                          "float_tflite", "trec", "float_trec",
                                          "py_accuracy_int8", "py_accuracy_int8_dense",
                                          "torch_accuracy", "eval_subset", "c_line_int8_dense",
                                          "c_line_int8_trec", "c_trec_macs_int8",
                                          "py_line_int8_dense",
                                          "py_line_int8_trec", "checkpoint", "ptq",
                                          "py_line_float_dense", "py_line_float_trec",
                                          "c_line_float_dense", "c_line_float_trec")}
        e["net"] = s.get("group") or s.get("net")
        e["arch"] = s.get("net")
        e["pixel"] = bool(s.get("pixel"))
        e["dense"] = s.get("dense")
        out.append(e)
    with open(os.path.join(d, "index.json"), "w") as f:
        json.dump(out, f, indent=1)
    print("wrote %s: %d models" % (os.path.join(d, "index.json"), len(out)))
    return 0


def main(argv):
    if len(argv) == 2 and argv[0] == "index":
        return index(argv[1])
    if argv and argv[0] == "predict":
        return predict(argv[1:])
    if argv and argv[0] == "torch-logits":
        return torch_logits(argv[1:])
    ap = argparse.ArgumentParser(description="export a CIFAR-10 net to TFLite (+ TREC sidecar)")
    ap.add_argument("net", choices=["cifarnet", "cifarnet_hr", "resnet20"])
    ap.add_argument("checkpoint")
    ap.add_argument("out_prefix")
    ap.add_argument("--calib", type=int, default=200)
    ap.add_argument("--float", action="store_true")
    ap.add_argument("--ptq", default=None)
    ap.add_argument("--ptq-layers", default="wide")
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--eval-limit", type=int, default=0)
    ap.add_argument("--no-eval", action="store_true")
    ap.add_argument("--frugal", default=None)
    ap.add_argument("--check-float", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tag", default=None)
    ap.add_argument("--group", default=None,
                    help="the index's net name for this export (default: NET); exports of "
                         "one group share the dense baseline (e.g. cifarnet_e10)")
    ap.add_argument("--dense", default=None,
                    help="tag of the dense export that is this one's baseline (recorded in "
                         "the json and index)")
    ap.add_argument("--ptq-pixel", action="store_true",
                    help="--ptq in pixel mode (L must divide the conv's in_channels)")
    args = ap.parse_args(argv)
    if args.calib < 1 or args.eval_every < 1:
        raise SystemExit("export_cifar.py: --calib and --eval-every must be >= 1")
    return export(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
