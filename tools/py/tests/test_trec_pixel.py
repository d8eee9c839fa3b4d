#!/usr/bin/python3
"""Self-test of TREC pixel mode (shared projection, L = in_c) in the Python tooling:
  - trec.selftest_pixel(): pure buckets give the dense conv, forward == forward_fast
    (values, ids, gradients), the int8 NumPy twin against a direct computation, export;
  - the module's float output and ids against trec_tflite.py's NumPy pixel twin
    (trec_pixel_map, as `trec_tflite.py eval` runs it), and trec.trec_s8_pixel_numpy
    against trec_tflite's int8 centroid map (two independent int8 implementations);
  - sidecar round trip: export_layer -> write_sidecar -> trec_tflite.read_sidecar (types
    bit 3, H x L projections, H offsets, sizes);
  - on CIFAR-10 (when the assets are present): CifarNet conv2 in pixel mode by
    trec_train.make_trec (pca+c over the calibration pixels): ids by hand from the conv
    input, fast path == reference, pixel MAC accounting, an SGD step moves the
    projection, checkpoint save / load keeps pixel mode and the outputs.
Exits non-zero on failure."""
import os
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import trec  # noqa: E402
import trec_tflite  # noqa: E402


def check(cond, what):
    if not cond:
        print("FAIL: " + what)
        sys.exit(1)
    print("ok: " + what)


def tflite_geom(g):
    return dict(in_h=g["in_h"], in_w=g["in_w"], in_c=g["in_c"], out_h=g["out_h"],
                out_w=g["out_w"], k_h=g["kh"], k_w=g["kw"], stride_h=g["stride"][0],
                stride_w=g["stride"][1], dil_h=g["dil"][0], dil_w=g["dil"][1],
                pad_top=g["pad_top"], pad_left=g["pad_left"])


def twins():
    for L in (8, 4, 2):   # channel groups 1, 2, 4
        twins_f32(L)
    for L in (6, 3, 2):   # channel groups 1, 2, 3
        twins_s8(L)


def twins_f32(L):
    # float: module (reference forward) vs trec_tflite's NumPy pixel map + conv
    G = 8 // L
    g = trec.make_geom(1, 9, 8, 8, 6, 3, 2, 1, "same")
    torch.manual_seed(1)
    m = trec.module_for(g, L, 5, trec.SCOPE_IMAGE, trec.ACT_RELU, pixel=True)
    with torch.no_grad():
        m.offset.copy_(0.2 * torch.randn(G, 5))
    x = torch.randn(1, 8, 9, 8)
    with torch.no_grad():
        y = m(x)
    r = dict(L=L, H=5, pixel=True, groups=G, proj_f32=m.proj_flat().detach().numpy(),
             offset_f32=m.offset.detach().numpy().reshape(-1))
    v = x.permute(0, 2, 3, 1).numpy().astype(np.float32)
    cmap, nb, cl = trec_tflite.trec_pixel_map(v, r, False)
    rows = trec_tflite.rows_of(cmap, tflite_geom(g), 0)
    w = m.weight.detach().permute(0, 2, 3, 1).reshape(6, -1).double().numpy()
    yy = np.maximum(rows @ w.T + m.bias.detach().double().numpy(), 0)
    err = np.abs(yy - y.permute(0, 2, 3, 1).reshape(-1, 6).double().numpy()).max()
    ids = m.last_ids.reshape(-1, G).numpy()
    same = all(len(np.unique(ids[:, cg])) == len(np.unique(cl[cg])) for cg in range(G))
    check(err < 1e-5 and trec_tflite.pixel_used_sets(cl, tflite_geom(g)) == m.last_clusters
          and sum(len(np.unique(c)) for c in cl) == nb and same,
          "float pixel mode, %d channel groups: module == trec_tflite twin (max |diff| %.2g, "
          "%d buckets)" % (G, err, nb))


def twins_s8(L):
    # int8: trec.trec_s8_pixel_numpy vs trec_tflite.trec_pixel_map + a dense integer conv
    G = 6 // L
    rng = np.random.default_rng(7)
    g = trec.make_geom(1, 7, 7, 6, 5, 3, 1, 1, "same")
    xq = rng.integers(-128, 128, size=(1, 7, 7, 6)).astype(np.int8)
    xq[:, :4] = (xq[:, :4] // 64 * 64).astype(np.int8)
    zp = -3
    w = rng.integers(-127, 128, size=(5, 3, 3, 6)).astype(np.int8)
    bias = rng.integers(-900, 901, size=5).astype(np.int32)
    proj = rng.integers(-127, 128, size=4 * 6).astype(np.int8)
    off = rng.integers(-2000, 2001, size=4 * G)
    mult, shift = [1 << 30] * 5, [-7] * 5
    out, ids = trec.trec_s8_pixel_numpy(xq, zp, w, bias, proj, g, 4, trec.SCOPE_IMAGE, mult,
                                        shift, 0, -128, 127, off, L=L)
    r = dict(L=L, H=4, pixel=True, groups=G, proj_s8=proj, offset_s32=off)
    cmap, nb, _ = trec_tflite.trec_pixel_map(xq.astype(np.int64) - zp, r, True)
    rows = trec_tflite.rows_of(cmap, tflite_geom(g), 0).astype(np.int64)
    acc = rows @ w.reshape(5, -1).astype(np.int64).T + bias.astype(np.int64)
    ref = np.array([[min(max(trec.mbqm(trec.wrap32(int(a)), mult[o], shift[o]), -128), 127)
                     for o, a in enumerate(rr)] for rr in acc], dtype=np.int8)
    ids = ids.reshape(-1, G)
    check(np.array_equal(out, ref) and
          sum(len(np.unique(ids[:, cg])) for cg in range(G)) == nb,
          "int8 pixel mode, %d channel groups: trec.py twin == trec_tflite twin (%d buckets)"
          % (G, nb))


def sidecar():
    g = trec.make_geom(1, 6, 6, 16, 8, 3, 1, 1, "same")
    m = trec.module_for(g, 16, 6, trec.SCOPE_BATCH, trec.ACT_NONE, pixel=True)
    with torch.no_grad():
        m.offset.copy_(torch.linspace(-1, 1, 6).view(1, 6))
    r = trec.export_layer(m, 3, input_scale=0.5)
    with tempfile.TemporaryDirectory() as td:
        fn = os.path.join(td, "p.trec")
        trec.write_sidecar(fn, [r])
        size = os.path.getsize(fn)
        back = trec_tflite.read_sidecar(fn)[3]
    check(back["pixel"] and back["K"] == 144 and back["L"] == 16 and back["H"] == 6 and
          back["scope"] == trec.SCOPE_BATCH, "sidecar: pixel layer header round trip")
    check(np.array_equal(back["proj_f32"], r["proj_f32"]) and back["proj_s8"].size == 96 and
          np.array_equal(back["proj_s8"], r["proj_s8"]) and
          np.array_equal(back["offset_f32"], r["offset_f32"]) and
          np.array_equal(back["offset_s32"], r["offset_s32"]),
          "sidecar: H x L projections and H offsets (float and int8) round trip")
    check(size == 16 + 24 + 4 * 96 + 96 + 4 * 6 * 2, "sidecar: %d bytes" % size)
    # int8 projection rows scaled to max |p| = 127, offsets in the int8 input's units
    P = m.proj[0].detach().numpy()
    sc = np.abs(P).max(1)
    want = np.round(m.offset.detach().numpy()[0] * 127 / (sc * 0.5))
    check(np.abs(r["proj_s8"].reshape(6, 16)).max(1).tolist() == [127] * 6 and
          np.array_equal(r["offset_s32"], want), "export_layer: int8 scaling")
    for bad in (6, 32):
        try:
            trec.TrecConv2d(16, 8, 3, sub_len=bad, pixel=True)
            check(False, "pixel mode refuses L %d (does not divide in_c 16)" % bad)
        except ValueError:
            check(True, "pixel mode refuses L %d (does not divide in_c 16)" % bad)


def cifar():
    import cifar_data
    import cifar_nets
    import trec_train
    if not os.path.exists(cifar_data.TEST_BIN):
        print("SKIPPED (CIFAR part): %s not found" % cifar_data.TEST_BIN)
        return
    xu, y = cifar_data.load_test(step=156, count=32)
    x = cifar_nets.normalize(cifar_data.to_float(xu))
    y = torch.as_tensor(y)
    torch.manual_seed(0)
    net = cifar_nets.CifarNet()
    trec_train.make_trec(net, ["conv2"], ["c"], ["6"], "pca+c", x[:8], 0.5, pixel=True)
    t = net.conv2
    check(t.pixel and t.L == 64 and t.H == 6 and t.J == 25 and tuple(t.proj.shape) == (1, 6, 64)
          and tuple(t.offset.shape) == (1, 6), "make_trec pixel: conv2 [1, 6, 64] projection")
    net.eval()
    xin = []
    h = t.register_forward_hook(lambda mod, inp, out: xin.append(inp[0]))
    with torch.no_grad():
        trec_train.set_fast(net, False)
        y_ref = net(x)
        ids_ref = t.last_ids.clone()
        st = (t.last_clusters, t.last_macs_reuse, t.last_macs_hash, t.last_macs_dense)
        trec_train.set_fast(net, True)
        y_fast = net(x)
    h.remove()
    V = xin[0].permute(0, 2, 3, 1).reshape(-1, 64)
    d = V @ t.proj[0].t() + t.offset[0]
    hand = ((d >= 0).long() << torch.arange(6)).sum(-1).reshape(32, 256)
    check(torch.equal(hand, ids_ref), "ids by hand from the conv input (per pixel, NHWC)")
    check(torch.equal(t.last_ids, ids_ref) and torch.allclose(y_fast, y_ref, rtol=1e-4, atol=1e-4),
          "fast path == reference (ids, logits)")
    # one partial-product set per (image, bucket, tap) whose tap some row reads a pixel of
    # that bucket through (conv2: 16x16, 5x5 SAME, stride 1: tap (fy, fx) reads rows and
    # columns max(0, fy - 2) .. min(15, fy + 13))
    ids_img = ids_ref.reshape(32, 16, 16)
    U = sum(len(torch.unique(ids_img[b, max(0, fy - 2):min(16, fy + 14),
                                     max(0, fx - 2):min(16, fx + 14)]))
            for b in range(32) for fy in range(5) for fx in range(5))
    B = sum(len(torch.unique(ids_ref[b])) for b in range(32))
    check(st == (U, U * 64 * 64, 32 * 256 * 64 * 6, 32 * 256 * 1600 * 64) and U <= B * 25,
          "pixel MAC accounting (%d partial-product sets, buckets x 25 = %d)" % (U, B * 25))
    # an SGD step (trec_train's groups) moves the projection and lowers the batch loss
    net.train()
    trec_train.set_fast(net, True, detach_x=True)
    opt = torch.optim.SGD(trec_train.param_groups(net, 0.01, 0.01, 0.0), lr=0.01)
    p0 = t.proj.detach().clone()
    loss0 = None
    for _ in range(3):
        loss = F.cross_entropy(net(x), y)
        loss0 = float(loss) if loss0 is None else loss0
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        loss1 = float(F.cross_entropy(net(x), y))
    check(not torch.equal(p0, t.proj.detach()) and loss1 < loss0,
          "SGD steps move the projection, batch loss %.4f -> %.4f" % (loss0, loss1))
    net.eval()
    with tempfile.TemporaryDirectory() as td:
        fn = os.path.join(td, "c.pt")
        cifar_nets.save_checkpoint(fn, net, "cifarnet", {"tag": "t"})
        m2, ck = cifar_nets.load_checkpoint(fn)
    trec_train.set_fast(net, False)
    with torch.no_grad():
        a, b = net(x), m2(x)
    check(ck["trec"]["conv2"]["pixel"] is True and m2.conv2.pixel and torch.equal(a, b),
          "checkpoint save / load keeps pixel mode and the outputs")


def main():
    torch.set_num_threads(1)
    trec.selftest_pixel()
    print("ok: trec.selftest_pixel")
    twins()
    sidecar()
    cifar()
    print("all pixel-mode checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
