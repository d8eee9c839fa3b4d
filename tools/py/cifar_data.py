#!/usr/bin/python3
"""CIFAR-10 data for the training tools: the training set decoded once from the JPEG tar
into a cached uint8 array, the test set from the binary records, and batch augmentation
(random crop after a 4-pixel zero pad, horizontal flip) in torch.

Assets (../shared/assets/cnn/cifar10/, see its MANIFEST.md):
    train-jpeg.tar   50000 JPEGs, train/<class>/NNNN.jpg; label = index of <class> in
                     CLASSES; decoded with PIL, in sorted path order
    test_batch.bin   10000 records (1 label byte + 3072 bytes R, G, B planes), JPEG-lossy,
                     sorted by class: take every k-th record for a balanced subset

Cache: /work/main/build/cifar10-train.npz (x uint8 [50000, 3, 32, 32], y uint8 [50000]);
written on first use (about a minute), never committed (build/ is ignored).

Usage:
    cifar_data.py cache            decode the tar into the cache and print a summary
"""
import os
import sys
import tarfile
import io

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
ASSETS = os.environ.get("FR_ASSETS") or os.path.normpath(os.path.join(ROOT, "..", "shared", "assets"))
CIFAR_DIR = os.path.join(ASSETS, "cnn", "cifar10")
TRAIN_TAR = os.path.join(CIFAR_DIR, "train-jpeg.tar")
TEST_BIN = os.path.join(CIFAR_DIR, "test_batch.bin")
CACHE = os.path.join(ROOT, "build", "cifar10-train.npz")
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck")


def decode_tar(path, limit=None):
    """(x uint8 [n, 3, 32, 32], y uint8 [n]) from a tar of train/<class>/*.jpg, members
    in sorted path order; limit: only the first `limit` images of that order."""
    from PIL import Image
    xs, ys = [], []
    with tarfile.open(path) as tf:
        members = sorted((m for m in tf.getmembers() if m.isfile() and
                          m.name.lower().endswith((".jpg", ".jpeg"))), key=lambda m: m.name)
        if limit is not None:
            members = members[:limit]
        for m in members:
            parts = m.name.split("/")
            if len(parts) < 2 or parts[-2] not in CLASSES:
                raise ValueError("%s: %s: class folder not one of CIFAR-10's" % (path, m.name))
            with Image.open(io.BytesIO(tf.extractfile(m).read())) as im:
                a = np.asarray(im.convert("RGB"), dtype=np.uint8)
            if a.shape != (32, 32, 3):
                raise ValueError("%s: %s: image is %s, not 32x32 RGB" % (path, m.name, a.shape))
            xs.append(a.transpose(2, 0, 1))
            ys.append(CLASSES.index(parts[-2]))
    if not xs:
        raise ValueError("%s: no JPEG images" % path)
    return np.stack(xs), np.array(ys, dtype=np.uint8)


def load_train(cache=CACHE, tar=TRAIN_TAR):
    """The training set (x uint8 [50000, 3, 32, 32], y int64 [50000]), from the cache,
    decoding the tar into it first when it is missing."""
    if not os.path.exists(cache):
        if not os.path.exists(tar):
            raise FileNotFoundError("%s: not found" % tar)
        x, y = decode_tar(tar)
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        tmp = cache + ".tmp.npz"
        np.savez(tmp, x=x, y=y)
        os.replace(tmp, cache)
    with np.load(cache) as z:
        x, y = z["x"], z["y"]
    if x.ndim != 4 or x.shape[1:] != (3, 32, 32) or x.shape[0] != y.shape[0]:
        raise ValueError("%s: bad cache shapes %s %s (delete it)" % (cache, x.shape, y.shape))
    return x, y.astype(np.int64)


HOLDOUT_SEED = 20261125


def holdout_split(y, n, seed=HOLDOUT_SEED):
    """(train_idx, val_idx), int64 index arrays in increasing order, that split the
    training labels y into n held-out images (n // 10 of every class: n must be a multiple
    of the number of classes, at most the smallest class's count) and the rest. The choice
    depends only on y, n and the seed (fixed by default), so every run and every `eval`
    with the same n holds out the same images; n = 0 holds out none."""
    y = np.asarray(y)
    if n == 0:
        return np.arange(len(y), dtype=np.int64), np.zeros(0, dtype=np.int64)
    k = len(CLASSES)
    counts = np.bincount(y, minlength=k)
    if n < 0 or n % k or n // k > counts.min():
        raise ValueError("holdout %d: needs a multiple of %d, at most %d" % (n, k, k * counts.min()))
    rng = np.random.RandomState(seed)
    val = []
    for c in range(k):
        idx = np.flatnonzero(y == c)
        val.append(idx[rng.permutation(len(idx))[:n // k]])
    val = np.sort(np.concatenate(val)).astype(np.int64)
    keep = np.ones(len(y), dtype=bool)
    keep[val] = False
    return np.flatnonzero(keep).astype(np.int64), val


def load_test(path=TEST_BIN, step=1, offset=0, count=None):
    """Test records offset, offset + step, ... (x uint8 [n, 3, 32, 32], y int64 [n]).
    The file is sorted by class: step 10 gives 100 images per class out of 1000."""
    rec = 1 + 3072
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % rec:
        raise ValueError("%s: size %d is not a multiple of %d-byte records" % (path, raw.size, rec))
    raw = raw.reshape(-1, rec)[offset::step]
    if count is not None:
        if count > raw.shape[0]:
            raise ValueError("%s: only %d records at step %d" % (path, raw.shape[0], step))
        raw = raw[:count]
    return raw[:, 1:].reshape(-1, 3, 32, 32).copy(), raw[:, 0].astype(np.int64)


def to_float(x_u8):
    """uint8 [B, 3, 32, 32] (numpy or torch) -> float32 torch tensor in [0, 1]."""
    return torch.as_tensor(x_u8).float().div_(255.0)


def augment(x01, gen=None, pad=4):
    """Random crop of 32x32 out of the zero-padded (by `pad`) image and random horizontal
    flip, independently per image. x01: float [B, C, H, W] in [0, 1] (padding is black,
    before normalisation, as torchvision's RandomCrop on the PIL image)."""
    B, C, H, W = x01.shape
    xp = F.pad(x01, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (B,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (B,), generator=gen)
    flip = torch.rand(B, generator=gen) < 0.5
    iy = dy[:, None] + torch.arange(H)[None, :]                       # [B, H]
    ix = dx[:, None] + torch.arange(W)[None, :]                       # [B, W]
    ix = torch.where(flip[:, None], ix.flip(1), ix)
    bi = torch.arange(B)[:, None, None]
    out = xp.permute(0, 2, 3, 1)[bi, iy[:, :, None], ix[:, None, :]]  # [B, H, W, C]
    return out.permute(0, 3, 1, 2).contiguous()


def batches(n, batch, gen=None, shuffle=True):
    """Index tensors covering range(n) in batches (shuffled with gen)."""
    idx = torch.randperm(n, generator=gen) if shuffle else torch.arange(n)
    for i in range(0, n, batch):
        yield idx[i:i + batch]


def main(argv):
    if len(argv) == 2 and argv[1] == "cache":
        x, y = load_train()
        print("%s: %d images, per class %s" % (CACHE, x.shape[0], np.bincount(y).tolist()))
        xt, yt = load_test()
        print("%s: %d images, per class %s" % (TEST_BIN, xt.shape[0], np.bincount(yt).tolist()))
        return 0
    sys.stderr.write("usage: cifar_data.py cache\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
