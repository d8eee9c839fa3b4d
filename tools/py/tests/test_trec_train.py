#!/usr/bin/python3
"""Self-test of the TREC training tooling (cifar_nets.py, cifar_data.py, trec_train.py and
TrecConv2d's fast path): on 64 CIFAR-10 test images, CifarNet with conv2 as TREC
(L = 64, H = 4):
  - the fast path (TrecConv2d.forward_fast) gives the reference forward's bucket ids and
    outputs (within 1e-4 relative), and the same gradients on a small layer;
  - in training mode the forward value equals the eval-mode (hard-bucket) value;
  - two SGD steps (trec_train's parameter groups, projections included) reduce the loss
    on the batch, move the projections, and the buckets stay consistent with the hard
    forward afterwards: ids recomputed from the projections by hand equal last_ids;
  - checkpoint save / load (cifar_nets) reproduces the outputs and the TREC config;
  - to_trec keeps the dense function when every bucket is pure (H = 16, constant image);
  - ResNet20 loads the asset with akamaster's keys; augment() only crops and flips;
  - CifarNet-HR: its convs and shapes, pixel-mode TREC on its conv2 equals conv2 of the
    centroid map built from its bucket ids, its checkpoint round trip;
  - the distillation loss (trec_train --teacher) equals a hand computation;
  - cifar_data.holdout_split (trec_train --holdout; synthetic labels, runs without the
    assets): class balanced, disjoint, complete, the same choice every call.
Exits non-zero on failure; prints SKIPPED and exits 0 when the CIFAR-10 assets are absent."""
import copy
import os
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import cifar_data  # noqa: E402
import cifar_nets  # noqa: E402
import trec  # noqa: E402
import trec_train  # noqa: E402


def hand_ids(t, x):
    """Bucket ids of TrecConv2d t on input x, computed here from rows(), proj and offset."""
    X, _, _ = t.rows(x)
    d = torch.einsum("bnjl,jhl->bnjh", X, t.proj * t.mask) + t.offset
    return ((d >= 0).long() << torch.arange(t.H)).sum(-1)


def check(cond, what):
    if not cond:
        print("FAIL: " + what)
        sys.exit(1)
    print("ok: " + what)


def holdout():
    y = np.repeat(np.arange(10), 5000)[np.random.RandomState(5).permutation(50000)]
    tr, va = cifar_data.holdout_split(y, 5000)
    check(len(va) == 5000 and len(tr) == 45000 and np.bincount(y[va]).tolist() == [500] * 10,
          "holdout 5000: 500 per class, 45000 left")
    check(len(np.union1d(tr, va)) == 50000 and not np.intersect1d(tr, va).size and
          np.all(np.diff(va) > 0), "holdout: disjoint, complete, sorted")
    tr2, va2 = cifar_data.holdout_split(y, 5000)
    check(np.array_equal(va, va2) and np.array_equal(tr, tr2), "holdout: fixed choice")
    check(not np.array_equal(va, cifar_data.holdout_split(y, 5000, seed=1)[1]),
          "holdout: the seed matters")
    tr0, va0 = cifar_data.holdout_split(y, 0)
    check(len(va0) == 0 and len(tr0) == 50000, "holdout 0: none held out")
    for bad in (5, -10, 50010):
        try:
            cifar_data.holdout_split(y, bad)
            check(False, "holdout %d rejected" % bad)
        except ValueError:
            pass
    check(True, "holdout: not a multiple of 10 / out of range rejected")


def main():
    holdout()
    if not os.path.exists(cifar_data.TEST_BIN):
        print("SKIPPED: %s not found" % cifar_data.TEST_BIN)
        return 0
    torch.set_num_threads(2)
    torch.manual_seed(0)
    xu, y = cifar_data.load_test(step=156, count=64)       # 64 images, all classes
    x = cifar_nets.normalize(cifar_data.to_float(xu))
    y = torch.as_tensor(y)
    check(len(set(y.tolist())) == 10, "64 test images cover the 10 classes")

    # augment: every output image is a shifted (and possibly flipped) crop of its input
    a = cifar_data.to_float(xu[:4])
    g = torch.Generator().manual_seed(3)
    b = cifar_data.augment(a, g, pad=0)
    check(all(torch.equal(b[i], a[i]) or torch.equal(b[i], a[i].flip(2)) for i in range(4)),
          "augment with pad 0 is identity or flip")
    c = cifar_data.augment(a, g)
    check(c.shape == a.shape and float(c.min()) >= 0, "augment keeps the shape")

    # CifarNet with conv2 as TREC, initialised by the PTQ method (pca+c)
    net = cifar_nets.CifarNet()
    trec_train.make_trec(net, ["conv2"], ["64"], ["4"], "pca+c", x[:8], 0.5)
    xs16 = x[:16]  # the reference forward (netlib einsum) is slow: compare on 16 images
    t = net.conv2
    check(isinstance(t, trec.TrecConv2d) and t.L == 64 and t.H == 4 and t.J == 25,
          "to_trec: conv2 is a TrecConv2d with L 64, H 4, J 25")
    check([n for n, _ in cifar_nets.trec_layers(net)] == ["conv1", "conv2"], "trec_layers")

    # fast path == reference (eval)
    net.eval()
    with torch.no_grad():
        trec_train.set_fast(net, False)
        y_ref = net(xs16)
        ids_ref = t.last_ids.clone()
        trec_train.set_fast(net, True)
        y_fast = net(x)
        ids_fast = t.last_ids[:16].clone()
    check(torch.equal(ids_ref, ids_fast), "fast path: same bucket ids as the reference")
    err = float((y_ref - y_fast[:16]).abs().max() / y_ref.abs().max())
    check(err < 1e-4, "fast path: same logits (rel err %.2g)" % err)
    check(t.last_clusters < 64 * 256 * 25 // 4, "TREC with H 4 merges rows (%d clusters)" %
          t.last_clusters)

    # gradients: fast == reference on a small layer
    torch.manual_seed(1)
    m = trec.TrecConv2d(8, 16, 3, 2, 1, sub_len=5, hash_bits=6)
    with torch.no_grad():
        m.offset.normal_()
    m.train()
    f = copy.deepcopy(m)
    f.fast = True
    xs = torch.randn(3, 8, 9, 9)
    x1, x2 = xs.clone().requires_grad_(), xs.clone().requires_grad_()
    gy = torch.randn(3, 16, 5, 5)
    (m(x1) * gy).sum().backward()
    (f(x2) * gy).sum().backward()
    for name, p, q in (("input", x1, x2), ("weight", m.weight, f.weight),
                       ("proj", m.proj, f.proj), ("offset", m.offset, f.offset)):
        rel = float((p.grad - q.grad).abs().max() / p.grad.abs().max().clamp_min(1e-12))
        check(rel < 1e-4 and float(p.grad.abs().sum()) > 0,
              "fast path: same %s gradient (rel err %.2g)" % (name, rel))

    # training steps reduce the loss and move the projections
    net.train()
    trec_train.set_fast(net, True)
    loss0 = float(F.cross_entropy(y_fast, y))
    proj0 = t.proj.detach().clone()
    opt = torch.optim.SGD(trec_train.param_groups(net, 0.01, 0.05, 0.0), lr=0.01, momentum=0.9)
    for i in range(2):
        y_train = net(x)
        if i == 0:
            check(torch.equal(t.last_ids[:16], ids_ref) and
                  float((y_train[:16] - y_ref).abs().max() / y_ref.abs().max()) < 1e-4,
                  "training-mode forward: same buckets and value as eval mode")
        loss = F.cross_entropy(y_train, y)
        opt.zero_grad()
        loss.backward()
        check(t.proj.grad is not None and float(t.proj.grad.abs().sum()) > 0,
              "projections get a gradient")
        opt.step()
    net.eval()
    with torch.no_grad():
        loss1 = float(F.cross_entropy(net(x), y))
        trec_train.set_fast(net, False)
        out = net(xs16)
    check(loss1 < loss0, "2 SGD steps reduce the loss (%.4f -> %.4f)" % (loss0, loss1))
    check(float((t.proj - proj0).abs().max()) > 0, "projections moved")
    with torch.no_grad():
        check(torch.equal(hand_ids(t, net.pool1(F.relu(net.conv1(xs16)))), t.last_ids),
              "after training: buckets = sign bits of the learned projections")

    # checkpoint round trip
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "c.pt")
        cifar_nets.save_checkpoint(p, net, "cifarnet", {"tag": "test"})
        m2, ck = cifar_nets.load_checkpoint(p)
        with torch.no_grad():
            check(torch.equal(m2(xs16), out), "checkpoint round trip: same outputs")
        check(ck["trec"] == {"conv2": {"L": 64, "H": 4, "scope": 0, "tau": t.tau,
                                          "pixel": False}},
              "checkpoint keeps the TREC config")

    # dense identity: H = 16 on a constant image makes every bucket pure
    net = cifar_nets.CifarNet().eval()
    xc = torch.full((2, 3, 32, 32), 0.3)
    xc[1] = -0.7
    with torch.no_grad():
        yd = net(xc)
        t = cifar_nets.to_trec(net, "conv1", 3, 16)
        t.eval()
        yt = net(xc)
        X, _, _ = t.rows(xc)
        pure = sum(torch.unique(X[b, :, j], dim=0).shape[0] for b in range(2) for j in range(t.J))
    check(t.last_clusters == pure, "H 16: buckets pure (%d clusters)" % pure)
    check(float((yd - yt).abs().max()) < 1e-4, "pure buckets: TREC net = dense net")

    # CifarNet-HR: the layer list, the shapes, and pixel-mode TREC on its conv2 (32x32x32
    # input, H 8): its output is conv2 of the centroid map built here from last_ids; a
    # checkpoint keeps the net name and the TREC config
    torch.manual_seed(5)
    hr = cifar_nets.build("cifarnet_hr").eval()
    check([n for n, _ in cifar_nets.trec_layers(hr)] == ["conv1", "conv2", "conv3"],
          "cifarnet_hr: convs conv1, conv2, conv3")
    macs = cifar_nets.conv_macs(hr)
    check(macs["conv2"] == 32 * 32 * 9 * 32 * 64, "cifarnet_hr: conv2 runs at 32x32 (%d MACs)"
          % macs["conv2"])
    xr = cifar_nets.normalize(torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(6)))
    with torch.no_grad():
        check(tuple(hr(xr).shape) == (2, 10), "cifarnet_hr: logits [2, 10]")
        t = cifar_nets.to_trec(hr, "conv2", 32, 8, pixel=True)
        t.eval()
        yt = hr(xr)
        a = F.relu(hr.conv1(xr))                       # conv2's input [2, 32, 32, 32]
        y2 = t(a)
        ids = t.last_ids.reshape(2, 32 * 32)
        px = a.flatten(2).transpose(1, 2)              # [2, 1024, 32]
        cmap = torch.empty_like(px)
        nclu = 0
        for b in range(2):
            for u in torch.unique(ids[b]):
                sel = ids[b] == u
                cmap[b, sel] = px[b, sel].mean(0)
                nclu += 1
        cmap = cmap.transpose(1, 2).reshape(a.shape)
        want = F.conv2d(cmap, t.weight, t.bias, padding=1)
    check(1 < nclu < 2 * 256, "cifarnet_hr: %d clusters in 2 images" % nclu)
    check(float((y2 - want).abs().max()) < 1e-4 * float(want.abs().max()),
          "cifarnet_hr pixel mode: conv2 of the centroid map")
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "hr.pt")
        cifar_nets.save_checkpoint(p, hr, "cifarnet_hr", {"tag": "test"})
        m2, ck = cifar_nets.load_checkpoint(p)
        with torch.no_grad():
            check(torch.equal(m2.eval()(xr), yt), "cifarnet_hr checkpoint round trip")
        check(ck["net"] == "cifarnet_hr" and ck["trec"]["conv2"]["pixel"],
              "cifarnet_hr checkpoint keeps the net and the pixel config")

    # knowledge distillation loss (trec_train --teacher) against a hand computation
    g = torch.Generator().manual_seed(3)
    so, to = torch.randn(5, 10, generator=g), torch.randn(5, 10, generator=g)
    yl = torch.randint(0, 10, (5,), generator=g)
    ce = F.cross_entropy(so, yl)
    check(torch.equal(trec_train.kd_loss(so, yl, to, 0.0, 4.0), ce), "kd weight 0: the cross-entropy")
    check(torch.equal(trec_train.kd_loss(so, yl, None, 0.7, 4.0), ce), "no teacher: the cross-entropy")
    sd, td = (so / 3.0).double(), (to / 3.0).double()
    pt_, lps, lpt = td.softmax(1), sd.log_softmax(1), td.log_softmax(1)
    kl = float((pt_ * (lpt - lps)).sum(1).mean())
    want = 0.4 * float(ce) + 0.6 * 9.0 * kl
    got = float(trec_train.kd_loss(so, yl, to, 0.6, 3.0))
    check(abs(got - want) < 1e-5 * abs(want), "kd loss = 0.4 CE + 0.6 T^2 KL (%.6f vs %.6f)" % (got, want))
    check(abs(float(trec_train.kd_loss(so, yl, so, 1.0, 2.0))) < 1e-6, "student = teacher: KL 0")

    # ResNet-20 asset with the shared definition
    if os.path.exists(trec_train.PRETRAINED):
        r = cifar_nets.load_resnet20(trec_train.PRETRAINED)
        ck = torch.load(trec_train.PRETRAINED, map_location="cpu")["state_dict"]
        extra = set(r.state_dict()) - set(k[len("module."):] for k in ck)
        check(set(k[len("module."):] for k in ck) <= set(r.state_dict()) and
              all(k.endswith("num_batches_tracked") for k in extra),
              "ResNet20 state_dict keys = the asset's (+ num_batches_tracked)")
        with torch.no_grad():
            acc = float((r(x).argmax(1) == y).float().mean())
        check(acc > 0.6, "pretrained ResNet-20 on 64 images: %.2f" % acc)
    print("test_trec_train: ok")
    return 0


if __name__ == "__main__":
    np.random.seed(0)
    sys.exit(main())
