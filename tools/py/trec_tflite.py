#!/usr/bin/python3
"""TREC sidecar for a TFLite CNN (e.g. the MLPerf Tiny IC ResNet), post-training.

Reads the model with tflite_inspect.py, runs it in NumPy (tflite_run_ref.py, independent of
the C runtime) on calibration images from a CIFAR-10 binary file, collects every chosen
CONV_2D's im2col rows and picks per sub-vector j the projections:
  pca   (default) the top-H principal directions of the sub-vector's calibration
        distribution, hyperplanes through its mean (offsets o = -P . mean): "pca+c";
  gauss i.i.d. Gaussian directions through the mean ("gauss+c").
int8 models get int8 projections in the space the int8 kernels hash (v = x_q - zp: each
row scaled to max|p| = 127, offsets -round(p_q . mean_v)); float models get float ones.
The sidecar (docs/trec.md) is written with trec.py's write_sidecar.

Pixel mode (--pixel, docs/trec.md "shared projection"; needs L dividing in_c, --L 0: L =
in_c): one H x L projection per channel group of L channels per conv, from the
calibration *pixels* (the conv input's channel vectors, v = x - zp for int8), sidecar
types bit 3 (and the channel-group count).

usage:
  trec_tflite.py make MODEL.tflite OUT.trec [--cifar FILE] [--calib N] [--L N] [--H N]
                 [--method pca|gauss] [--ops all|wide|I,J,...] [--seed S] [--pixel]
      --L      sub-vector length (default: the conv's in_c, i.e. one filter tap)
      --pixel  pixel mode (every chosen conv needs L dividing its in_c; --L 0: L = in_c)
      --ops    all CONV_2D, wide (default: 3x3 convs with >= 32 output channels) or a list
      --calib  calibration images (default 16), spread evenly over the whole file (a
               class-sorted file such as CIFAR-10's test batch gets every class): of the
               M records 25, 75, 125, ... (every 50th from 25), records
               25 + 50 * floor(k * M / N) for k = 0..N-1 (all M when N >= M). They are
               never multiples of 10, so disjoint from the evaluation subsets of
               `subset --every 50` and of bench/trec/run.py --eval-every 10. (Until
               2026-11-24 23:57 UTC they were the first N of those, 25, 75, ..., which
               in the class-sorted test file are all airplanes for N <= 20.)
  trec_tflite.py subset CIFAR.bin OUT.bin [--every 50] [--skip-calib-pool]
      writes records 0, every, 2*every, ... (the evaluation subset for frugal classify);
      --skip-calib-pool leaves out the records `make` calibrates on (index % 50 == 25),
      e.g. --every 1 --skip-calib-pool: the 9,800 test records no sidecar saw
  trec_tflite.py eval MODEL.tflite CIFAR.bin [--trec FILE] [--limit N]
      runs the graph in NumPy (tflite_run_ref.py) with the sidecar's convs as TREC (an
      independent NumPy twin of the kernels: int8 models use the int8 projections, float
      models the float ones; per-tap and pixel mode) and prints the accuracy line as
      `frugal classify --cifar10 ... --reuse trec --trec FILE` does (float: hashing and
      centroids in float32 in the C order, the output sums in float64, so a line can
      differ from the C runtime's by an image whose logits nearly tie)
Runs are short (seconds); use nice -n 15.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tflite_inspect as ti  # noqa: E402
import tflite_run_ref as rr  # noqa: E402

CIFAR_REC = 3073


def calib_indices(n_records, n):
    """Record indices of n calibration images in a file of n_records: of the M records
    25, 75, 125, ... (every 50th from 25), those of ranks floor(k * M / n), k = 0..n-1,
    i.e. spread evenly over the whole file (all M when n >= M). Class-sorted files (the
    CIFAR-10 test batch: 1000 records per class) thus give every class its share, and no
    index is a multiple of 10 (the evaluation subsets: every 10th or 50th record from 0)."""
    M = max(0, (n_records - 25 + 49) // 50)
    if M == 0:
        raise SystemExit("trec_tflite.py: %d records: calibration needs at least 26" %
                         n_records)
    n = min(n, M)
    return 25 + 50 * (np.arange(n, dtype=np.int64) * M // n)


def cifar_images(path, idx):
    """Records idx of a CIFAR-10 binary file: (pixels [n, 32, 32, 3] uint8, labels [n])."""
    raw = np.fromfile(path, dtype=np.uint8)
    recs = raw[:raw.size // CIFAR_REC * CIFAR_REC].reshape(-1, CIFAR_REC)
    sel = recs[idx]
    # planar R, G, B -> HWC
    return sel[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), sel[:, 0]


def cifar_records(path):
    return os.path.getsize(path) // CIFAR_REC


def model_input(m, px):
    """The input tensor frugal classify feeds for 8-bit pixels px [32,32,3] (same size as
    the model input: no resize): int8: the range its quantisation covers, quantised."""
    t = m["tensors"][m["inputs"][0]]
    if t["type"] == 9:
        s, zp = float(t["scales"][0]), int(t["zps"][0])
        lo, hi = s * (-128 - zp), s * (127 - zp)
        f = (np.float32(lo) + np.float32(hi - lo) * px.astype(np.float32) / np.float32(255))
        v = (f / np.float32(s)).astype(np.float32)
        q = np.where(v >= 0, np.floor(v + 0.5), -np.floor(-v + 0.5)) + zp
        return np.clip(q, -128, 127).astype(np.int8).reshape(t["shape"])
    return px.astype(np.float32).reshape(t["shape"])


def conv_info(m, op):
    T = m["tensors"]
    x_t = T[op["inputs"][0]]
    w = rr.const(m, T[op["inputs"][1]])
    pad, sw, sh = rr.opt(op, 0, "b", 0), rr.opt(op, 1, "i", 0), rr.opt(op, 2, "i", 0)
    dwf, dhf = rr.opt(op, 4, "i", 1), rr.opt(op, 5, "i", 1)
    g = rr.geom(x_t["shape"], pad, w.shape[1], w.shape[2], sh, sw, dhf, dwf, w.shape[0])
    return g, x_t


def rows_of(x, g, zp):
    """x [1,H,W,C] -> rows [out_h*out_w, K] in filter order, v = x - zp, 0 outside."""
    v = x.astype(np.float64) - zp
    H, W, C = g["in_h"], g["in_w"], g["in_c"]
    out = np.zeros((g["out_h"], g["out_w"], g["k_h"], g["k_w"], C))
    for fy in range(g["k_h"]):
        iy = np.arange(g["out_h"]) * g["stride_h"] - g["pad_top"] + fy * g["dil_h"]
        vy = (iy >= 0) & (iy < H)
        for fx in range(g["k_w"]):
            ix = np.arange(g["out_w"]) * g["stride_w"] - g["pad_left"] + fx * g["dil_w"]
            vx = (ix >= 0) & (ix < W)
            sub = v[0][np.clip(iy, 0, H - 1)][:, np.clip(ix, 0, W - 1)]
            out[:, :, fy, fx, :] = sub * (vy[:, None] & vx[None, :])[:, :, None]
    return out.reshape(-1, g["k_h"] * g["k_w"] * C)


def make(args):
    import torch
    torch.set_num_threads(1)
    import trec  # the sidecar writer (imports torch)
    m = ti.load(args.model)
    T = m["tensors"]
    convs = [i for i, op in enumerate(m["ops"]) if op["code"] == 3]
    if args.ops == "all":
        chosen = convs
    elif args.ops == "wide":
        chosen = []
        for i in convs:
            g, _ = conv_info(m, m["ops"][i])
            if g["k_h"] * g["k_w"] > 1 and g["out_c"] >= 32:
                chosen.append(i)
    else:
        chosen = [int(s) for s in args.ops.split(",")]
        for i in chosen:
            if i not in convs:
                raise SystemExit("trec_tflite.py: op %d is not a CONV_2D" % i)
    idx = calib_indices(cifar_records(args.cifar), args.calib)
    imgs, labels = cifar_images(args.cifar, idx)
    print("calibration: %d records (%s), labels per class %s" % (
        len(idx), ", ".join(str(int(i)) for i in idx),
        np.bincount(labels, minlength=10).tolist()))
    rows = {i: [] for i in chosen}
    for px in imgs:
        vals = {m["inputs"][0]: model_input(m, px)}
        for k, op in enumerate(m["ops"]):
            if k in rows:
                g, x_t = conv_info(m, op)
                zp = int(x_t["zps"][0]) if x_t["type"] == 9 else 0
                if args.pixel:   # the input pixels (v = x - zp), [H * W, C]
                    xin = vals[op["inputs"][0]]
                    rows[k].append(xin.reshape(-1, xin.shape[-1]).astype(np.float64) - zp)
                else:
                    rows[k].append(rows_of(vals[op["inputs"][0]], g, zp))
            vals[op["outputs"][0]] = rr.run_op(m, op, vals)
    rng = np.random.default_rng(args.seed)
    recs = []
    for k in chosen:
        g, x_t = conv_info(m, m["ops"][k])
        s8 = x_t["type"] == 9
        R = np.concatenate(rows[k])
        K = g["k_h"] * g["k_w"] * g["in_c"]
        L = min(args.L or g["in_c"], K)
        H = args.H
        if args.pixel and g["in_c"] % L:
            raise SystemExit("trec_tflite.py: --pixel: op %d needs L dividing in_c (%d), not %d"
                             % (k, g["in_c"], L))
        KP = g["in_c"] if args.pixel else K      # values the projections cover
        J = KP // L if args.pixel else (K + L - 1) // L   # channel groups, or sub-vectors
        pf = np.zeros(H * KP, dtype=np.float64)
        ps = np.zeros(pf.size, dtype=np.int64)
        of = np.zeros(J * H, dtype=np.float64)
        os32 = np.zeros(J * H, dtype=np.int64)
        pos = 0
        for j in range(J):
            X = R[:, j * L:min(j * L + L, KP)]
            lj = X.shape[1]
            mu = X.mean(0)
            if args.method == "pca":
                _, _, vt = np.linalg.svd(X - mu, full_matrices=False)
                P = np.zeros((H, lj))
                P[:min(H, vt.shape[0])] = vt[:H]
                # rows beyond the rank: random directions
                for h in range(min(H, vt.shape[0]), H):
                    P[h] = rng.standard_normal(lj)
            else:
                P = rng.standard_normal((H, lj))
            pf[pos:pos + H * lj] = P.reshape(-1)
            of[j * H:(j + 1) * H] = -(P @ mu)
            sc = np.abs(P).max(1, keepdims=True)
            sc[sc == 0] = 1
            Q = np.clip(np.round(P / sc * 127), -127, 127).astype(np.int64)
            ps[pos:pos + H * lj] = Q.reshape(-1)
            os32[j * H:(j + 1) * H] = -np.round(Q @ mu).astype(np.int64)
            pos += H * lj
        rec = dict(op=k, K=K, sub_len=L, hash_bits=H, scope=0, pixel=bool(args.pixel),
                   groups=J if args.pixel else 1)
        if s8:
            rec.update(proj_s8=ps.astype(np.int8), offset_s32=os32.astype(np.int32))
        else:
            rec.update(proj_f32=pf.astype(np.float32), offset_f32=of.astype(np.float32))
        recs.append(rec)
        print("op %d: K %d, L %d, H %d, J %d, out_c %d, %d calibration %s" %
              (k, K, L, H, (K + L - 1) // L, g["out_c"], R.shape[0],
               "pixels (pixel mode)" if args.pixel else "rows"))
    trec.write_sidecar(args.out, recs)
    print("wrote %s: %d layers" % (args.out, len(recs)))
    return 0


def read_sidecar(path):
    """The layers of a TREC sidecar (format in src/reuse/trec.h) as dicts by op index."""
    import struct
    b = open(path, "rb").read()
    if b[:4] != b"FRTC":
        raise SystemExit("trec_tflite.py: %s: not a TREC sidecar" % path)
    _, n, total, _ = struct.unpack_from("<HHII", b, 4)
    out = {}
    for i in range(n):
        op, K, L, H, scope, types, G, off, nb = struct.unpack_from("<IIHBBBB2xII", b,
                                                                   16 + 24 * i)
        pixel = bool(types & 8)
        G = max(G, 1) if pixel else 1           # channel groups (pixel mode)
        J = G if pixel else (K + L - 1) // L     # offset blocks
        KP = L * G if pixel else K               # projection values per hash bit
        p = off
        r = dict(op=op, K=K, L=L, H=H, scope=scope, pixel=pixel, groups=G)
        if types & 1:
            r["proj_f32"] = np.frombuffer(b, "<f4", H * KP, p)
            p += 4 * H * KP
            if types & 4:
                r["offset_f32"] = np.frombuffer(b, "<f4", J * H, p)
                p += 4 * J * H
        if types & 2:
            if types & 4:
                r["offset_s32"] = np.frombuffer(b, "<i4", J * H, p)
                p += 4 * J * H
            r["proj_s8"] = np.frombuffer(b, "i1", H * KP, p)
        out[op] = r
    return out


def _f32_dots(X, P):
    """X [n, L] @ P[H, L].T in float32, summed in the order t = 0..L-1 without fused
    multiply-adds (the C kernels' hash order)."""
    X = X.astype(np.float32)
    P = P.astype(np.float32)
    d = X[:, 0:1] * P[None, :, 0]
    for t in range(1, X.shape[1]):
        d = d + X[:, t:t + 1] * P[None, :, t]
    return d


def _buckets(X, d, s8):
    """(ids, inverse, centroids [U, L]) of vectors X by dot products d (bit h = d_h >= 0):
    int8: exact sums rounded half away from zero; float: float32 sums in increasing
    order, / n."""
    bid = ((d >= 0).astype(np.int64) << np.arange(d.shape[1])).sum(1)
    u, inv, cnt = np.unique(bid, return_inverse=True, return_counts=True)
    if s8:
        sm = np.zeros((len(u), X.shape[1]), dtype=np.int64)
        np.add.at(sm, inv, X)
        n = cnt[:, None]
        c = np.where(sm >= 0, (sm + n // 2) // n, -((-sm + n // 2) // n))
    else:
        sm = np.zeros((len(u), X.shape[1]), dtype=np.float32)
        np.add.at(sm, inv, X.astype(np.float32))
        c = sm / cnt[:, None].astype(np.float32)
    return bid, inv, c


def trec_pixel_map(v, r, s8):
    """Pixel mode: v [1, H, W, C] (int8 models: int64 x - zp; float: float32) -> (the
    centroid map, same shape; the clusters summed over the channel groups; per channel
    group of L channels the cluster of each pixel, [G, H, W]). One image (both scopes
    coincide at batch 1)."""
    C = v.shape[-1]
    L, H = r["L"], r["H"]
    G = C // L
    out = np.zeros_like(v)
    cls, n_clusters = [], 0
    for cg in range(G):
        X = v[..., cg * L:(cg + 1) * L].reshape(-1, L)
        if s8:
            P = r["proj_s8"].astype(np.int64)[cg * H * L:(cg + 1) * H * L].reshape(H, L)
            d = X.astype(np.int64) @ P.T
            if "offset_s32" in r:
                d = d + r["offset_s32"].astype(np.int64)[None, cg * H:(cg + 1) * H]
        else:
            d = _f32_dots(X, r["proj_f32"][cg * H * L:(cg + 1) * H * L].reshape(H, L))
            if "offset_f32" in r:
                d = d + r["offset_f32"].astype(np.float32)[None, cg * H:(cg + 1) * H]
        _, inv, c = _buckets(X, d, s8)
        out[..., cg * L:(cg + 1) * L] = c[inv].reshape(v.shape[:3] + (L,))
        cls.append(inv.reshape(v.shape[1:3]))
        n_clusters += c.shape[0]
    return out, n_clusters, np.stack(cls)


def pixel_used_sets(cls, g):
    """Pixel mode: the partial-product sets that frugal computes for one image, one per
    (channel group, cluster, tap) whose tap some output row reads a pixel of that cluster
    through. cls [G, in_h, in_w]: per channel group the cluster of each pixel."""
    return sum(_used_sets_one(cl, g) for cl in cls)


def _used_sets_one(cl, g):
    n = 0
    for fy in range(g["k_h"]):
        iy = np.arange(g["out_h"]) * g["stride_h"] - g["pad_top"] + fy * g["dil_h"]
        iy = iy[(iy >= 0) & (iy < cl.shape[0])]
        for fx in range(g["k_w"]):
            ix = np.arange(g["out_w"]) * g["stride_w"] - g["pad_left"] + fx * g["dil_w"]
            ix = ix[(ix >= 0) & (ix < cl.shape[1])]
            if len(iy) and len(ix):
                n += len(np.unique(cl[np.ix_(iy, ix)]))
    return n


def trec_acc(rows, W, bias, r, s8):
    """Per-tap TREC accumulators: int8 (s8: rows int64 v = x - zp, exact) or float (rows
    float32: hashing and centroids in float32, output sums in float64). Returns (acc,
    clusters, partial-product MACs)."""
    if s8:
        return trec_acc_s8(rows, W, bias, r)
    N, K = rows.shape
    L, H = r["L"], r["H"]
    J = (K + L - 1) // L
    acc = np.zeros((N, W.shape[0]), dtype=np.float64)
    if bias is not None:
        acc += bias.astype(np.float64)[None, :]
    clusters = macs = 0
    for j in range(J):
        k0 = j * L
        lj = min(L, K - k0)
        X = rows[:, k0:k0 + lj].astype(np.float32)
        d = _f32_dots(X, r["proj_f32"][H * k0:H * k0 + H * lj].reshape(H, lj))
        if "offset_f32" in r:
            d = d + r["offset_f32"][j * H:(j + 1) * H].astype(np.float32)[None, :]
        _, inv, c = _buckets(X, d, False)
        clusters += c.shape[0]
        macs += c.shape[0] * lj * W.shape[0]
        acc += (c.astype(np.float64) @ W[:, k0:k0 + lj].T)[inv]
    return acc, clusters, macs


def trec_acc_s8(rows, W, bias, r):
    """int8 TREC accumulators (docs/trec.md): rows [N, K] int64 (v = x - zp, one image),
    W [O, K] int64, bias [O] or None. Also returns the cluster count."""
    N, K = rows.shape
    L, H = r["L"], r["H"]
    J = (K + L - 1) // L
    acc = np.zeros((N, W.shape[0]), dtype=np.int64)
    if bias is not None:
        acc += bias.astype(np.int64)[None, :]
    clusters = 0
    macs = 0
    for j in range(J):
        k0 = j * L
        lj = min(L, K - k0)
        P = r["proj_s8"][H * k0:H * k0 + H * lj].astype(np.int64).reshape(H, lj)
        X = rows[:, k0:k0 + lj]
        d = X @ P.T
        if "offset_s32" in r:
            d = d + r["offset_s32"][j * H:(j + 1) * H].astype(np.int64)[None, :]
        bid = ((d >= 0).astype(np.int64) << np.arange(H)).sum(1)
        u, inv, cnt = np.unique(bid, return_inverse=True, return_counts=True)
        clusters += len(u)
        macs += len(u) * lj * W.shape[0]
        s = np.zeros((len(u), lj), dtype=np.int64)
        np.add.at(s, inv, X)
        n = cnt[:, None]
        c = np.where(s >= 0, (s + n // 2) // n, -((-s + n // 2) // n))
        acc += (c @ W[:, k0:k0 + lj].T)[inv]
    return acc, clusters, macs


def evaluate(args):
    """Accuracy of the graph (NumPy; int8 or float) with the sidecar's convs run as TREC
    (per-tap or pixel mode, as the sidecar says)."""
    m = ti.load(args.model)
    T = m["tensors"]
    side = read_sidecar(args.trec) if args.trec else {}
    raw = np.fromfile(args.cifar, dtype=np.uint8)
    recs = raw[:raw.size // CIFAR_REC * CIFAR_REC].reshape(-1, CIFAR_REC)
    if args.limit:
        recs = recs[:args.limit]
    imgs = recs[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    correct = 0
    stats = {}
    for px, label in zip(imgs, recs[:, 0]):
        vals = {m["inputs"][0]: model_input(m, px)}
        for k, op in enumerate(m["ops"]):
            if k in side:
                g, x_t = conv_info(m, op)
                r = side[k]
                s8 = x_t["type"] == 9
                if ("proj_s8" if s8 else "proj_f32") not in r:
                    raise SystemExit("trec_tflite.py: eval: op %d: the sidecar has no %s "
                                     "projections" % (k, "int8" if s8 else "float"))
                zp = int(x_t["zps"][0]) if s8 else 0
                xin = vals[op["inputs"][0]]
                w_t = T[op["inputs"][1]]
                W = rr.const(m, w_t).astype(np.int64 if s8 else np.float64).reshape(g["out_c"], -1)
                ins = op["inputs"]
                bias = rr.const(m, T[ins[2]]) if len(ins) > 2 and ins[2] >= 0 else None
                if r.get("pixel"):
                    if r["L"] * r.get("groups", 1) != g["in_c"]:
                        raise SystemExit("trec_tflite.py: eval: op %d: pixel mode needs L x "
                                         "groups = in_c (%d), the sidecar has %d x %d" %
                                         (k, g["in_c"], r["L"], r.get("groups", 1)))
                    v = xin.astype(np.int64) - zp if s8 else xin.astype(np.float32)
                    cmap, nb, cl = trec_pixel_map(v, r, s8)
                    rows = rows_of(cmap, g, 0)
                    rows = rows.astype(np.int64) if s8 else rows
                    acc = rows @ W.T
                    if bias is not None:
                        acc = acc + bias.astype(acc.dtype)[None, :]
                    ncl = pixel_used_sets(cl, g)
                    macs = ncl * r["L"] * g["out_c"]
                else:
                    if s8:
                        rows = rows_of(xin, g, zp).astype(np.int64)
                    else:
                        rows = rows_of(xin.astype(np.float32), g, 0).astype(np.float32)
                    acc, ncl, macs = trec_acc(rows, W, bias, r, s8)
                st = stats.setdefault(k, [0, 0, 0, 0, r])
                st[0] += rows.shape[0]
                st[1] += ncl
                st[2] += macs
                st[3] += rows.size * g["out_c"]
                acc = acc.reshape(1, g["out_h"], g["out_w"], g["out_c"])
                y_t = T[op["outputs"][0]]
                act = rr.opt(op, 3, "b", 0)
                if s8:
                    vals[op["outputs"][0]] = rr.requant_conv(acc, x_t, w_t, y_t, act,
                                                             g["out_c"]).astype(np.int8)
                else:
                    lo, hi = rr.R.act_range_f32(act)
                    vals[op["outputs"][0]] = np.clip(acc, lo, hi).astype(np.float32)
            else:
                vals[op["outputs"][0]] = rr.run_op(m, op, vals)
        y = vals[m["outputs"][0]].reshape(-1)
        if int(np.argmax(y)) == int(label):
            correct += 1
    n = len(recs)
    for k in sorted(stats):
        rows, ncl, macs, dense, r = stats[k]
        print("op %d: L %d%s, H %d, per image %d rows, %.1f clusters, %.0f MACs done of %d "
              "dense (%.1f%% removed)" % (k, r["L"], " pixel" if r.get("pixel") else "",
                                          r["H"], rows // n, ncl / n, macs / n,
                                          dense // n, 100.0 * (dense - macs) / dense))
    print("accuracy: %.4f (%d/%d)" % (correct / n, correct, n))
    return 0


def subset(args):
    raw = np.fromfile(args.cifar, dtype=np.uint8)
    recs = raw[:raw.size // CIFAR_REC * CIFAR_REC].reshape(-1, CIFAR_REC)
    idx = np.arange(0, len(recs), args.every)
    if args.skip_calib_pool:   # records 25, 75, 125, ...: where calib_indices picks from
        idx = idx[idx % 50 != 25]
    recs[idx].tofile(args.out)
    print("wrote %s: %d records" % (args.out, len(idx)))
    return 0


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    cifar = os.path.join(here, "..", "..", "..", "shared", "assets", "cnn", "cifar10",
                         "test_batch.bin")
    ap = argparse.ArgumentParser(description="TREC sidecar for a TFLite CNN")
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("make")
    a.add_argument("model")
    a.add_argument("out")
    a.add_argument("--cifar", default=cifar)
    a.add_argument("--calib", type=int, default=16)
    a.add_argument("--L", type=int, default=0)
    a.add_argument("--H", type=int, default=8)
    a.add_argument("--method", choices=["pca", "gauss"], default="pca")
    a.add_argument("--ops", default="wide")
    a.add_argument("--seed", type=int, default=1)
    a.add_argument("--pixel", action="store_true",
                   help="pixel mode: one projection per channel group of L channels over the "
                        "conv's input pixels (--L 0: L = in_c)")
    b = sub.add_parser("subset")
    b.add_argument("cifar")
    b.add_argument("out")
    b.add_argument("--every", type=int, default=50)
    b.add_argument("--skip-calib-pool", action="store_true",
                   help="leave out the records calibration draws from (index %% 50 == 25)")
    e = sub.add_parser("eval")
    e.add_argument("model")
    e.add_argument("cifar")
    e.add_argument("--trec", default=None)
    e.add_argument("--limit", type=int, default=0)
    args = ap.parse_args(argv)
    if not (1 <= getattr(args, "H", 1) <= 16):
        raise SystemExit("trec_tflite.py: --H must be 1..16")
    if getattr(args, "calib", 1) < 1:
        raise SystemExit("trec_tflite.py: --calib must be >= 1")
    return {"make": make, "subset": subset, "eval": evaluate}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
