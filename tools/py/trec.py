#!/usr/bin/python3
"""TREC (transient redundancy elimination) convolution in PyTorch: the twin of
src/reuse/trec_ref.c, with learned hash projections; plus an independent NumPy reference
of the int8 semantics, and the writer of the C tests' case file.

Semantics (docs/trec.md, src/reuse/trec.h): the layer input is unrolled into rows (one
per output pixel, K = kh*kw*cin values in filter order (fy, fx, ic)); each row is split
into J = ceil(K/L) sub-vectors of length L (the last one shorter when L does not divide
K); sub-vector j of every row is hashed with H projections P_j (H x L_j):
    bit h = 1 if P_j[h] . x + o_j[h] >= 0 else 0   (so an exact 0 gives 1; the offsets
                                                   o are optional, zero by default)
    bucket id = sum_h bit_h << h
the sub-vectors of one bucket (per image, or over the whole batch) are replaced by their
mean, and the output is  bias + sum_j centroid_j(row) . W_j.

Pixel mode (TrecConv2d(pixel=True), sidecar types bit 3; needs L to divide in_c: the
pixel's channels form G = in_c / L channel groups, and sub-vector j = tap * G + cg is
channel group cg of the pixel that filter tap `tap` reads): ONE projection P_cg (H x L)
and offsets o_cg (H) per channel group for all taps; every input pixel's channel group
is hashed once (ids per pixel and channel group, NHWC order, group minor), the pixels of
a bucket are replaced by their mean (per channel group), and the output is the conv of
that centroid map (padding taps add nothing). G = 1 (L = in_c) is the whole pixel.
Accounting: one cluster per (scope group, channel group, bucket, tap) that some row
reads, hashing = pixels * in_c * H. trec_s8_pixel_numpy is its int8 twin.

Training: the forward value is exactly the hard-bucket result above. The sign is not
differentiable, so the projections get gradients through a smooth relaxation used in a
straight-through way:
    pi   = prod_h sigmoid(|d_h| / tau)             (soft confidence that the row stays in
                                                    its bucket; d_h = P_j[h] . x)
    soft = pi * centroid + (1 - pi) * x            (soft reconstruction)
    xhat = centroid + (soft - soft.detach())        (value: centroid; gradient: of soft)
so the loss pushes the hyperplanes towards rows whose replacement by the centroid hurts
(they then split off) and away from rows for which the centroid is harmless. The input
and the filter get the exact gradients of the hard computation (the centroid is a mean
of member rows) plus the soft term's.

Usage:
    trec.py gen-tests OUT.bin      writes the cases of tests/reuse (float cases from the
                                   PyTorch module, int8 cases from the NumPy reference)
                                   and a demo sidecar OUT.bin.trec (demo_sidecar)
    trec.py demo-sidecar OUT.trec  writes only the demo sidecar
    trec.py selftest               checks the module against a dense conv when every
                                   bucket holds one distinct row, and gradient flow
"""
import math
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SCOPE_IMAGE = 0
SCOPE_BATCH = 1
ACT_NONE, ACT_RELU, ACT_RELU6 = 0, 1, 3


# ---------------------------------------------------------------------------------------
# geometry

def out_size(n, k, stride, dil, pad_before, pad_after):
    eff = (k - 1) * dil + 1
    return (n + pad_before + pad_after - eff) // stride + 1


def im2col_torch(x, kh, kw, stride, dil, pad_top, pad_left, out_h, out_w):
    """x: [B, C, H, W] -> rows [B, out_h*out_w, kh*kw*C] in filter order (fy, fx, ic)."""
    B, C, H, W = x.shape
    sh, sw = stride
    dh, dw = dil
    need_h = (out_h - 1) * sh + (kh - 1) * dh + 1
    need_w = (out_w - 1) * sw + (kw - 1) * dw + 1
    pad_bottom = max(0, need_h - H - pad_top)
    pad_right = max(0, need_w - W - pad_left)
    xp = F.pad(x, (pad_left, pad_right, pad_top, pad_bottom))
    cols = F.unfold(xp, (kh, kw), dilation=(dh, dw), stride=(sh, sw))  # [B, C*kh*kw, L]
    oh_full = (xp.shape[2] - need_h) // sh + out_h
    ow_full = (xp.shape[3] - need_w) // sw + out_w
    cols = cols.reshape(B, C, kh * kw, oh_full, ow_full)[:, :, :, :out_h, :out_w]
    cols = cols.permute(0, 3, 4, 2, 1)  # [B, oh, ow, kh*kw, C]
    return cols.reshape(B, out_h * out_w, kh * kw * C)


# ---------------------------------------------------------------------------------------
# the PyTorch layer

class TrecConv2d(nn.Module):
    """A Conv2d computed by TREC. Weights in PyTorch layout [out, in, kh, kw]; the
    projections are a parameter of shape [J, H, L] (the tail of the last sub-vector beyond
    K is zero and masked)."""

    def __init__(self, in_c, out_c, kernel, stride=1, padding=0, dilation=1, bias=True,
                 sub_len=9, hash_bits=8, scope=SCOPE_IMAGE, act=ACT_NONE, tau=1.0,
                 pad_after=None, pixel=False):
        super().__init__()
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        self.in_c, self.out_c, self.kh, self.kw = in_c, out_c, kh, kw
        self.stride = (stride, stride) if isinstance(stride, int) else tuple(stride)
        self.dil = (dilation, dilation) if isinstance(dilation, int) else tuple(dilation)
        self.pad = (padding, padding) if isinstance(padding, int) else tuple(padding)
        self.pad_after = self.pad if pad_after is None else tuple(pad_after)
        self.K = kh * kw * in_c
        if not 1 <= sub_len <= self.K:
            raise ValueError("sub_len %d out of range 1..%d" % (sub_len, self.K))
        if not 1 <= hash_bits <= 16:
            raise ValueError("hash_bits %d out of range 1..16" % hash_bits)
        self.L, self.H = sub_len, hash_bits
        self.J = (self.K + sub_len - 1) // sub_len
        self.scope, self.act, self.tau = scope, act, tau
        # pixel mode (shared projection): every input pixel is split into G = in_c / L
        # channel groups of L channels; each group is hashed once with its projection
        # [G, H, L] and offsets [G, H], shared by all taps (J = taps * G)
        self.pixel = bool(pixel)
        if self.pixel and (sub_len > in_c or in_c % sub_len):
            raise ValueError("pixel mode needs sub_len (%d) to divide in_c (%d)" % (sub_len, in_c))
        self.G = in_c // sub_len if self.pixel else 1
        self.weight = nn.Parameter(torch.randn(out_c, in_c, kh, kw) / math.sqrt(self.K))
        self.bias = nn.Parameter(torch.zeros(out_c)) if bias else None
        nP = self.G if self.pixel else self.J
        self.proj = nn.Parameter(torch.randn(nP, self.H, self.L))
        # per-hyperplane offsets: bit h = (P_j[h] . x + offset[j, h] >= 0); zero = the
        # hyperplanes pass through the origin
        self.offset = nn.Parameter(torch.zeros(nP, self.H))
        mask = torch.ones(nP, 1, self.L)
        tail = self.K - (self.J - 1) * self.L
        if not self.pixel:
            mask[-1, :, tail:] = 0
        self.register_buffer("mask", mask)
        self.last_ids = None
        self.last_clusters = None
        # opt-in path (forward_fast): the same values up to float summation order, the
        # same relaxation in training, matrix products as 1x1 convolutions (oneDNN)
        self.fast = False
        # forward_fast only: when True the relaxation's gradient reaches the projections
        # and offsets but not the layer input through d (pi's 1/tau slope, multiplied
        # through the earlier layers, blows up fine-tuning of ResNet-20)
        self.relax_detach_x = False

    # sub-vector lengths
    def sub_lens(self):
        return [min(self.L, self.K - j * self.L) for j in range(self.J)]

    def proj_lens(self):
        """Lengths of the projection blocks: G blocks of L in pixel mode, else sub_lens()."""
        return [self.L] * self.G if self.pixel else self.sub_lens()

    def out_hw(self, H, W):
        return (out_size(H, self.kh, self.stride[0], self.dil[0], self.pad[0], self.pad_after[0]),
                out_size(W, self.kw, self.stride[1], self.dil[1], self.pad[1], self.pad_after[1]))

    def filter_kl(self):
        """Weights as [J, L, out] in filter order (fy, fx, ic), zero-padded to J*L."""
        w = self.weight.permute(0, 2, 3, 1).reshape(self.out_c, self.K)  # OHWI rows
        w = F.pad(w, (0, self.J * self.L - self.K))
        return w.t().reshape(self.J, self.L, self.out_c)

    def proj_flat(self):
        """Projections in the C layout: sub-vector j's H x L_j block after the others."""
        parts = [self.proj[j, :, :lj].reshape(-1) for j, lj in enumerate(self.proj_lens())]
        return torch.cat(parts)

    def set_proj_flat(self, flat):
        with torch.no_grad():
            self.proj.zero_()
            off = 0
            for j, lj in enumerate(self.proj_lens()):
                self.proj[j, :, :lj] = torch.as_tensor(flat[off:off + self.H * lj]).reshape(self.H, lj)
                off += self.H * lj

    def rows(self, x):
        B, C, H, W = x.shape
        oh, ow = self.out_hw(H, W)
        r = im2col_torch(x, self.kh, self.kw, self.stride, self.dil, self.pad[0], self.pad[1],
                         oh, ow)
        r = F.pad(r, (0, self.J * self.L - self.K))
        return r.reshape(B, oh * ow, self.J, self.L), oh, ow

    def forward(self, x):
        if self.pixel:
            return self.forward_pixel(x, fast=self.fast)
        if self.fast:
            return self.forward_fast(x)
        B = x.shape[0]
        X, oh, ow = self.rows(x)                             # [B, N, J, L]
        N = X.shape[1]
        P = self.proj * self.mask                            # [J, H, L]
        d = torch.einsum("bnjl,jhl->bnjh", X, P) + self.offset  # [B, N, J, H]
        bits = (d >= 0).to(torch.int64)
        ids = (bits << torch.arange(self.H, device=x.device)).sum(-1)  # [B, N, J]
        self.last_ids = ids.detach()
        jj = torch.arange(self.J, device=x.device).view(1, 1, self.J)
        if self.scope == SCOPE_IMAGE:
            bb = torch.arange(B, device=x.device).view(B, 1, 1)
            key = ((bb * self.J + jj) << self.H) + ids
        else:
            key = (jj << self.H) + ids
        uniq, inv = torch.unique(key.reshape(-1), return_inverse=True)
        self.last_clusters = int(uniq.numel())
        lens = torch.tensor(self.sub_lens(), device=x.device)
        self.last_rows = B * N
        self.last_macs_dense = B * N * self.K * self.out_c
        self.last_macs_reuse = int(lens[(uniq >> self.H) % self.J].sum().item()) * self.out_c
        self.last_macs_hash = B * N * self.K * self.H
        U = uniq.numel()
        flatX = X.reshape(-1, self.L)
        sums = torch.zeros(U, self.L, dtype=X.dtype, device=x.device).index_add(0, inv, flatX)
        counts = torch.bincount(inv, minlength=U).to(X.dtype)
        cent = (sums / counts[:, None])[inv].reshape(B, N, self.J, self.L)
        if self.training and torch.is_grad_enabled():
            pi = torch.sigmoid(d.abs() / self.tau).prod(-1, keepdim=True)  # [B, N, J, 1]
            soft = pi * cent + (1 - pi) * X
            xhat = cent + (soft - soft.detach())
        else:
            xhat = cent
        y = torch.einsum("bnjl,jlo->bno", xhat, self.filter_kl())
        if self.bias is not None:
            y = y + self.bias
        if self.act == ACT_RELU:
            y = F.relu(y)
        elif self.act == ACT_RELU6:
            y = y.clamp(0, 6)
        return y.reshape(B, oh, ow, self.out_c).permute(0, 3, 1, 2)

    def pixel_dots(self, V):
        """Pixel mode: d [n, G, H] of pixel vectors V [n, in_c] (with the offsets), group
        g from channels g*L .. g*L+L-1, float32 sums in the order t = 0..L-1 without fused
        multiply-adds: the C reference's order."""
        Vg = V.reshape(V.shape[0], self.G, self.L)
        P = self.proj                                        # [G, H, L]
        d = Vg[:, :, 0:1] * P[:, :, 0]
        for t in range(1, self.L):
            d = d + Vg[:, :, t:t + 1] * P[:, :, t]
        return d + self.offset

    def conv_map(self, xm):
        """The layer's convolution (weight, bias, stride, dilation, padding incl. pad_after,
        activation) of an NCHW map: pixel mode's output from the centroid map."""
        pt, pl = self.pad
        pb, pr = self.pad_after
        if (pt, pl) == (pb, pr):
            y = F.conv2d(xm, self.weight, self.bias, self.stride, (pt, pl), self.dil)
        else:
            y = F.conv2d(F.pad(xm, (pl, pr, pt, pb)), self.weight, self.bias, self.stride, 0,
                         self.dil)
        if self.act == ACT_RELU:
            y = F.relu(y)
        elif self.act == ACT_RELU6:
            y = y.clamp(0, 6)
        return y

    def pixel_used_sets(self, key, Hh, Wd):
        """Pixel mode: the partial-product sets the C code computes, one per (scope group,
        channel group, bucket, tap) whose tap some output row reads a pixel of that bucket
        through. key [B, Hh, Wd, G]: a pixel's channel groups' (scope group, channel group,
        bucket) keys."""
        oh, ow = self.out_hw(Hh, Wd)
        total = 0
        for fy in range(self.kh):
            iy = torch.arange(oh) * self.stride[0] - self.pad[0] + fy * self.dil[0]
            iy = iy[(iy >= 0) & (iy < Hh)]
            for fx in range(self.kw):
                ix = torch.arange(ow) * self.stride[1] - self.pad[1] + fx * self.dil[1]
                ix = ix[(ix >= 0) & (ix < Wd)]
                if len(iy) and len(ix):
                    total += int(torch.unique(key[:, iy][:, :, ix]).numel())
        return total

    def forward_pixel(self, x, fast=False):
        """Pixel mode (shared projection, docs/trec.md): every input pixel q of the scope
        group is hashed once, v = x[q, :] (channels), bit h = (P[h] . v + o[h] >= 0); the
        pixels of a group with the same id are replaced by their mean (the centroid map)
        and the output is the layer's convolution of that map (taps in the padding add
        nothing). Training: per pixel, xhat = cent + (soft - soft.detach()), soft = pi *
        cent + (1 - pi) * v, pi = prod_h sigmoid(|d_h| / tau). fast: the hash dot products
        as a 1x1 convolution (another summation order: a dot product within rounding of 0
        may hash to the other side) and _TrecRelax's backward; else the C order."""
        B, C, Hh, Wd = x.shape
        H, G, L = self.H, self.G, self.L
        npx = Hh * Wd
        # one row per (pixel, channel group), NHWC pixel order then group: [B*npx*G, L]
        V = x.permute(0, 2, 3, 1).reshape(B * npx * G, L)
        xd = x.detach() if (fast and self.relax_detach_x) else x
        if fast:
            d = F.conv2d(xd, self.proj.reshape(G * H, L, 1, 1), groups=G).permute(0, 2, 3, 1)
            d = d.reshape(B * npx, G, H) + self.offset
        else:
            d = self.pixel_dots(xd.permute(0, 2, 3, 1).reshape(B * npx, C))
        d = d.reshape(B * npx * G, H)
        with torch.no_grad():
            ids = ((d >= 0).to(torch.int64) << torch.arange(H, device=x.device)).sum(-1)
            self.last_ids = ids.reshape(B, npx * G)
            gg = torch.arange(G, device=x.device).repeat(B * npx)
            if self.scope == SCOPE_IMAGE:
                bb = torch.arange(B, device=x.device).repeat_interleave(npx * G)
                key = ((bb * G + gg) << H) + ids
            else:
                key = (gg << H) + ids
            uniq, inv = torch.unique(key, return_inverse=True)
            U = uniq.numel()
            counts = torch.bincount(inv, minlength=U).to(x.dtype)
            oh, ow = self.out_hw(Hh, Wd)
            used = self.pixel_used_sets(key.reshape(B, Hh, Wd, G), Hh, Wd)
            self.last_clusters = used
            self.last_rows = B * oh * ow
            self.last_pixels = B * npx
            self.last_macs_dense = B * oh * ow * self.K * self.out_c
            self.last_macs_reuse = used * L * self.out_c
            self.last_macs_hash = B * npx * C * H
        Cn = torch.zeros(U, L, dtype=x.dtype, device=x.device).index_add(0, inv, V)
        Cn = Cn / counts[:, None]                            # centroids [U, C]
        if self.training and torch.is_grad_enabled():
            pi = torch.sigmoid(d.abs() / self.tau).prod(-1, keepdim=True)  # [B*npx*G, 1]
            if fast:
                xhat = _TrecRelax.apply(V, Cn, inv, pi)
            else:
                cent = Cn[inv]
                soft = pi * cent + (1 - pi) * V
                xhat = cent + (soft - soft.detach())
        else:
            xhat = Cn.index_select(0, inv)
        xm = xhat.reshape(B, Hh, Wd, C).permute(0, 3, 1, 2)
        return self.conv_map(xm)

    def rows_fast(self, x):
        """rows() by strided slices of the padded NHWC input (one per filter tap) instead
        of F.unfold and a permute: the same values, fewer passes over memory."""
        B, C, H, W = x.shape
        oh, ow = self.out_hw(H, W)
        xp = F.pad(x, (self.pad[1], self.pad_after[1], self.pad[0], self.pad_after[0]))
        xp = xp.permute(0, 2, 3, 1)                          # NHWC view
        sh, sw = self.stride
        taps = []
        for fy in range(self.kh):
            y0 = fy * self.dil[0]
            for fx in range(self.kw):
                x0 = fx * self.dil[1]
                taps.append(xp[:, y0:y0 + (oh - 1) * sh + 1:sh, x0:x0 + (ow - 1) * sw + 1:sw, :])
        r = torch.stack(taps, 3).reshape(B, oh * ow, self.K)  # (fy, fx, ic) order
        if self.J * self.L != self.K:
            r = F.pad(r, (0, self.J * self.L - self.K))
        return r.reshape(B, oh * ow, self.J, self.L), oh, ow

    def forward_fast(self, x):
        """forward() computed faster (opt-in with fast = True): the same hard-bucket
        semantics and, in training, the same relaxation, with the hash and output
        products as 1x1 convolutions (oneDNN; Debian's torch has only the reference BLAS
        for einsum/mm) and a custom backward (_TrecRelax) that keeps fewer row-sized
        intermediates. Sums run in another order than forward()'s, so a dot product
        within rounding of 0 may hash to the other side: use forward() (fast = False)
        where exactness matters (tests, export checks)."""
        if self.pixel:
            return self.forward_pixel(x, fast=True)
        B = x.shape[0]
        X, oh, ow = self.rows_fast(x)                        # [B, N, J, L]
        N = X.shape[1]
        J, L, H = self.J, self.L, self.H
        P = (self.proj * self.mask).reshape(J * H, L, 1, 1)
        Xd = X.detach() if self.relax_detach_x else X
        d = F.conv2d(Xd.reshape(B * N, J * L, 1, 1), P, groups=J).reshape(B, N, J, H)
        d = d + self.offset                                  # [B, N, J, H]
        with torch.no_grad():
            ids = ((d >= 0).to(torch.int64) << torch.arange(H, device=x.device)).sum(-1)
            self.last_ids = ids
            jj = torch.arange(J, device=x.device).view(1, 1, J)
            if self.scope == SCOPE_IMAGE:
                bb = torch.arange(B, device=x.device).view(B, 1, 1)
                key = ((bb * J + jj) << H) + ids
            else:
                key = (jj << H) + ids
            uniq, inv = torch.unique(key.reshape(-1), return_inverse=True)
            U = uniq.numel()
            counts = torch.bincount(inv, minlength=U).to(X.dtype)
            lens = torch.tensor(self.sub_lens(), device=x.device)
            self.last_clusters = int(U)
            self.last_rows = B * N
            self.last_macs_dense = B * N * self.K * self.out_c
            self.last_macs_reuse = int(lens[(uniq >> H) % J].sum().item()) * self.out_c
            self.last_macs_hash = B * N * self.K * H
        flatX = X.reshape(-1, L)
        C = torch.zeros(U, L, dtype=X.dtype, device=x.device).index_add(0, inv, flatX)
        C = C / counts[:, None]                              # centroids [U, L]
        if self.training and torch.is_grad_enabled():
            pi = torch.sigmoid(d.abs() / self.tau).prod(-1).reshape(-1, 1)  # [B*N*J, 1]
            xhat = _TrecRelax.apply(flatX, C, inv, pi)       # value: C[inv]
        else:
            xhat = C.index_select(0, inv)
        w = self.filter_kl().reshape(J * L, self.out_c).t().reshape(self.out_c, J * L, 1, 1)
        y = F.conv2d(xhat.reshape(B * N, J * L, 1, 1), w, self.bias).reshape(B * N, self.out_c)
        if self.act == ACT_RELU:
            y = F.relu(y)
        elif self.act == ACT_RELU6:
            y = y.clamp(0, 6)
        return y.reshape(B, oh, ow, self.out_c).permute(0, 3, 1, 2)


class _TrecRelax(torch.autograd.Function):
    """xhat = C[inv] in value; gradients those of  cent + (soft - soft.detach())  with
    soft = pi * cent + (1 - pi) * x  and cent = C[inv] (TrecConv2d.forward's relaxation):
    d/dC gets index_add(g * (1 + pi)), d/dx g * (1 - pi), d/dpi sum(g * (cent - x))."""

    @staticmethod
    def forward(ctx, x, C, inv, pi):
        cent = C.index_select(0, inv)
        ctx.save_for_backward(x, cent, inv, pi)
        ctx.n_clusters = C.shape[0]
        return cent

    @staticmethod
    def backward(ctx, g):
        x, cent, inv, pi = ctx.saved_tensors
        g_c = torch.zeros(ctx.n_clusters, g.shape[1], dtype=g.dtype, device=g.device)
        g_c.index_add_(0, inv, g * (1 + pi))
        g_x = g * (1 - pi)
        g_pi = (g * (cent - x)).sum(1, keepdim=True)
        return g_x, g_c, None, g_pi


# ---------------------------------------------------------------------------------------
# NumPy references (independent of the module): im2col and the int8 semantics

def im2col_np(x, kh, kw, stride, dil, pad_top, pad_left, out_h, out_w, fill=0):
    """x: [B, H, W, C] (NHWC) -> [B, out_h*out_w, kh*kw*C]; outside pixels are `fill`."""
    B, H, W, C = x.shape
    out = np.full((B, out_h, out_w, kh, kw, C), fill, dtype=x.dtype)
    for oy in range(out_h):
        for ox in range(out_w):
            for fy in range(kh):
                iy = oy * stride[0] - pad_top + fy * dil[0]
                if iy < 0 or iy >= H:
                    continue
                for fx in range(kw):
                    ix = ox * stride[1] - pad_left + fx * dil[1]
                    if 0 <= ix < W:
                        out[:, oy, ox, fy, fx, :] = x[:, iy, ix, :]
    return out.reshape(B, out_h * out_w, kh * kw * C)


def srdhm(a, b):
    if a == -2**31 and b == -2**31:
        return 2**31 - 1
    ab = a * b
    nudge = 2**30 if ab >= 0 else 1 - 2**30
    v = ab + nudge
    q = abs(v) // 2**31
    return q if v >= 0 else -q


def rdpot(x, e):
    if e == 0:
        return x
    q, r = divmod(abs(x), 2**e)
    if 2 * r >= 2**e:
        q += 1
    return q if x >= 0 else -q


def wrap32(v):
    return ((v + 2**31) % 2**32) - 2**31


def mbqm(x, m, s):
    left = s if s > 0 else 0
    right = -s if s < 0 else 0
    return rdpot(srdhm(wrap32(x * 2**left), m), right)


def quantize_multiplier(real):
    if real == 0:
        return 0, 0
    q, e = math.frexp(real)
    m = int(math.floor(abs(q) * 2**31 + 0.5)) * (1 if q >= 0 else -1)
    if m == 2**31:
        m //= 2
        e += 1
    if e < -31:
        return 0, 0
    return m, e


def round_div(s, n):
    """Half away from zero, as C's (s + n/2)/n for s >= 0."""
    return (s + n // 2) // n if s >= 0 else -((-s + n // 2) // n)


def trec_s8_numpy(x, zp, filt, bias, proj, geom, L, H, scope, mult, shift, out_zp, act_min,
                  act_max, offset=None):
    """int8 TREC: x [B,H,W,C] int8, filt [O,kh,kw,C] int8, bias int32 [O], proj int8 flat.
    Returns (output int8 [B*N, O], ids uint16 [B*N, J])."""
    B = x.shape[0]
    kh, kw = filt.shape[1], filt.shape[2]
    O = filt.shape[0]
    rows = im2col_np(x.astype(np.int64) - zp, kh, kw, geom["stride"], geom["dil"],
                     geom["pad_top"], geom["pad_left"], geom["out_h"], geom["out_w"], fill=0)
    N = rows.shape[1]
    K = rows.shape[2]
    J = (K + L - 1) // L
    W = filt.reshape(O, K).astype(np.int64)
    groups = [rows[b] for b in range(B)] if scope == SCOPE_IMAGE else [rows.reshape(B * N, K)]
    G = groups[0].shape[0]
    acc = np.zeros((B * N, O), dtype=np.int64)
    acc += bias.astype(np.int64)[None, :]
    ids = np.zeros((B * N, J), dtype=np.uint16)
    for gi, R in enumerate(groups):
        for j in range(J):
            k0 = j * L
            lj = min(L, K - k0)
            P = proj[H * k0: H * k0 + H * lj].astype(np.int64).reshape(H, lj)
            X = R[:, k0:k0 + lj]
            d = X @ P.T
            if offset is not None:
                d = d + np.asarray(offset, dtype=np.int64)[j * H:(j + 1) * H][None, :]
            bid = ((d >= 0).astype(np.int64) << np.arange(H)).sum(1)
            ids[gi * G:(gi + 1) * G, j] = bid
            for b in np.unique(bid):
                m = bid == b
                s = X[m].sum(0)
                n = int(m.sum())
                c = np.array([round_div(int(v), n) for v in s], dtype=np.int64)
                y = W[:, k0:k0 + lj] @ c
                acc[gi * G:(gi + 1) * G][m] += y[None, :]
    out = np.zeros((B * N, O), dtype=np.int8)
    for r in range(B * N):
        for o in range(O):
            v = mbqm(wrap32(int(acc[r, o])), int(mult[o]), int(shift[o])) + out_zp
            out[r, o] = min(max(v, act_min), act_max)
    return out, ids


def trec_s8_pixel_numpy(x, zp, filt, bias, proj, geom, H, scope, mult, shift, out_zp,
                        act_min, act_max, offset=None, L=None):
    """int8 TREC in pixel mode (L dividing in_c, default L = in_c: G = in_c / L channel
    groups): proj int8 [G * H * L] (block cg for channel group cg), offset int [G * H] or
    None. Every input pixel's channel group is hashed (v = x - zp), clustered per scope
    group, replaced by its rounded mean, and the output is the convolution of that
    centroid map (padding taps add 0). Returns (output int8 [B*N, O], ids uint16
    [B*in_h*in_w*G], pixel-major in NHWC order, channel group minor)."""
    B, ih, iw, C = x.shape
    L = C if L is None else L
    G = C // L
    O, kh, kw = filt.shape[0], filt.shape[1], filt.shape[2]
    V = x.astype(np.int64).reshape(B * ih * iw, C) - zp
    npx = ih * iw
    groups = [range(b * npx, (b + 1) * npx) for b in range(B)] if scope == SCOPE_IMAGE \
        else [range(B * npx)]
    cmap = np.zeros_like(V)
    ids = np.zeros((B * npx, G), dtype=np.int64)
    Ps = np.asarray(proj).astype(np.int64).reshape(G, H, L)
    offs = None if offset is None else np.asarray(offset, dtype=np.int64).reshape(G, H)
    for cg in range(G):
        Vg = V[:, cg * L:(cg + 1) * L]
        d = Vg @ Ps[cg].T
        if offs is not None:
            d = d + offs[cg][None, :]
        ids[:, cg] = ((d >= 0).astype(np.int64) << np.arange(H)).sum(1)
        for grp in groups:
            members = {}
            for q in grp:                       # first appearance order, increasing pixels
                members.setdefault(int(ids[q, cg]), []).append(q)
            for qs in members.values():
                ssum = Vg[qs].sum(0)
                n = len(qs)
                cmap[qs, cg * L:(cg + 1) * L] = np.array([round_div(int(v), n) for v in ssum],
                                                          dtype=np.int64)
    rows = im2col_np(cmap.reshape(B, ih, iw, C), kh, kw, geom["stride"], geom["dil"],
                     geom["pad_top"], geom["pad_left"], geom["out_h"], geom["out_w"], fill=0)
    rows = rows.reshape(-1, kh * kw * C)
    acc = rows @ filt.reshape(O, -1).astype(np.int64).T + bias.astype(np.int64)[None, :]
    out = np.zeros(acc.shape, dtype=np.int8)
    for r in range(acc.shape[0]):
        for o in range(O):
            v = mbqm(wrap32(int(acc[r, o])), int(mult[o]), int(shift[o])) + out_zp
            out[r, o] = min(max(v, act_min), act_max)
    return out, ids.reshape(-1).astype(np.uint16)


# ---------------------------------------------------------------------------------------
# case file for the C tests
#
# magic "TRECTST1", u32 case count; per case u32 array count, then arrays:
#   char name[16] (NUL padded), char type ('f' f32, 'i' i32, 'b' i8, 'h' u16), 3 zero
#   bytes, u32 count, count little-endian values.

def _arr(name, typ, a):
    a = np.ascontiguousarray(a).reshape(-1)
    dt = {"f": "<f4", "i": "<i4", "b": "i1", "h": "<u2"}[typ]
    data = a.astype(dt).tobytes()
    return name.encode().ljust(16, b"\0") + typ.encode() + b"\0\0\0" + struct.pack("<I", a.size) + data


def _geom(B, in_h, in_w, in_c, out_c, kh, kw, stride, dil, pad_top, pad_left, out_h, out_w):
    return dict(B=B, in_h=in_h, in_w=in_w, in_c=in_c, out_c=out_c, kh=kh, kw=kw,
                stride=stride, dil=dil, pad_top=pad_top, pad_left=pad_left, out_h=out_h,
                out_w=out_w)


def _geom_arr(g):
    return np.array([g["B"], g["in_h"], g["in_w"], g["in_c"], g["out_c"], g["kh"], g["kw"],
                     g["stride"][0], g["stride"][1], g["dil"][0], g["dil"][1], g["pad_top"],
                     g["pad_left"], g["out_h"], g["out_w"]], dtype=np.int64)


def tflite_same(n, k, s, d):
    out = (n + s - 1) // s
    eff = (k - 1) * d + 1
    total = max((out - 1) * s + eff - n, 0)
    return out, total // 2, total - total // 2


def make_geom(B, in_h, in_w, in_c, out_c, k, s, d, padding):
    if padding == "same":
        oh, pt, pb = tflite_same(in_h, k, s, d)
        ow, pl, pr = tflite_same(in_w, k, s, d)
    else:
        eff = (k - 1) * d + 1
        oh, pt, pb = (in_h - eff + s) // s, 0, 0
        ow, pl, pr = (in_w - eff + s) // s, 0, 0
    g = _geom(B, in_h, in_w, in_c, out_c, k, k, (s, s), (d, d), pt, pl, oh, ow)
    g["pad_after"] = (pb, pr)
    return g


def module_for(g, L, H, scope, act, pixel=False):
    m = TrecConv2d(g["in_c"], g["out_c"], (g["kh"], g["kw"]), stride=g["stride"],
                   padding=(g["pad_top"], g["pad_left"]), dilation=g["dil"], bias=True,
                   sub_len=L, hash_bits=H, scope=scope, act=act, pad_after=g["pad_after"],
                   pixel=pixel)
    m.eval()
    return m


def float_case(rng, g, L, H, scope, act, kind, with_off=False, pixel=False):
    """kind 0: dyadic data (every dot product exact in float32: ties at 0 are exercised);
    kind 1: Gaussian data, projections redrawn until no dot product is within 1e-4
    (relative) of 0. pixel: pixel mode (L divides in_c; G = in_c / L projections H x L,
    G * H offsets; the ids are per input pixel and channel group)."""
    m = module_for(g, L, H, scope, act, pixel)
    B, ih, iw, C = g["B"], g["in_h"], g["in_w"], g["in_c"]
    O, K = g["out_c"], m.K
    if kind == 0:
        x = rng.integers(-3, 4, size=(B, ih, iw, C)).astype(np.float32) / 4
        # a few repeated pixels so that buckets hold identical sub-vectors too
        x[:, ::2, ::3, :] = x[:, 1:2, 0:1, :]
        w = rng.integers(-8, 9, size=(O, g["kh"], g["kw"], C)).astype(np.float32) / 8
        bias = rng.integers(-4, 5, size=O).astype(np.float32) / 4
        proj = rng.integers(-3, 4, size=H * (C if pixel else K)).astype(np.float32)
        off = (rng.integers(-8, 9, size=(m.G if pixel else m.J) * H).astype(np.float32) / 4) \
            if with_off else None
    else:
        x = rng.standard_normal((B, ih, iw, C)).astype(np.float32)
        w = (rng.standard_normal((O, g["kh"], g["kw"], C)) / math.sqrt(K)).astype(np.float32)
        bias = (0.1 * rng.standard_normal(O)).astype(np.float32)
        proj = None
        off = (0.5 * rng.standard_normal((m.G if pixel else m.J) * H)).astype(np.float32) \
            if with_off else None
    with torch.no_grad():
        m.weight.copy_(torch.from_numpy(w).permute(0, 3, 1, 2))
        m.bias.copy_(torch.from_numpy(bias))
        xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
        if kind == 1 and pixel:
            parts = []
            for cg in range(m.G):
                X = x.astype(np.float64).reshape(-1, C)[:, cg * L:(cg + 1) * L]
                o = np.zeros(H) if off is None else off[cg * H:(cg + 1) * H].astype(np.float64)
                for _ in range(1000):
                    P = rng.standard_normal((H, L)).astype(np.float32)
                    Pd = P.astype(np.float64)
                    dd = X @ Pd.T + o[None, :]
                    mag = np.abs(X) @ np.abs(Pd).T + np.abs(o)[None, :]
                    if ((mag == 0) | (np.abs(dd) > 1e-4 * mag)).all():
                        break
                else:
                    raise RuntimeError("no projection with a safe margin")
                parts.append(P.reshape(-1))
            proj = np.concatenate(parts)
        elif kind == 1:
            rows = im2col_np(x.astype(np.float64), g["kh"], g["kw"], g["stride"], g["dil"],
                             g["pad_top"], g["pad_left"], g["out_h"], g["out_w"])
            rows = rows.reshape(-1, K)
            parts = []
            for j, lj in enumerate(m.sub_lens()):
                X = rows[:, j * L: j * L + lj]
                o = np.zeros(H) if off is None else off[j * H:(j + 1) * H].astype(np.float64)
                for _ in range(1000):
                    P = rng.standard_normal((H, lj)).astype(np.float32)
                    Pd = P.astype(np.float64)
                    dd = X @ Pd.T + o[None, :]
                    mag = np.abs(X) @ np.abs(Pd).T + np.abs(o)[None, :]
                    ok = (mag == 0) | (np.abs(dd) > 1e-4 * mag)
                    if ok.all():
                        break
                else:
                    raise RuntimeError("no projection with a safe margin")
                parts.append(P.reshape(-1))
            proj = np.concatenate(parts)
        m.set_proj_flat(torch.from_numpy(proj))
        if off is not None:
            m.offset.copy_(torch.from_numpy(off).reshape(m.offset.shape))
        y = m(xt)
    out = y.permute(0, 2, 3, 1).reshape(-1, O).numpy()
    ids = m.last_ids.reshape(-1 if pixel else (-1, m.J)).numpy().astype(np.uint16)
    return [
        _arr("geom", "i", _geom_arr(g)),
        _arr("trec", "i", np.array([L, H, scope, act, kind] + ([1] if pixel else []))),
        _arr("input", "f", x),
        _arr("filter", "f", w),
        _arr("bias", "f", bias),
        _arr("proj", "f", proj),
        _arr("ids", "h", ids),
        _arr("output", "f", out),
        _arr("clusters", "i", np.array([m.last_clusters])),
    ] + ([_arr("offset", "f", off)] if off is not None else [])


def s8_case(rng, g, L, H, scope, act, with_off=False, pixel=False):
    B, ih, iw, C = g["B"], g["in_h"], g["in_w"], g["in_c"]
    O = g["out_c"]
    K = g["kh"] * g["kw"] * C
    x = rng.integers(-128, 128, size=(B, ih, iw, C)).astype(np.int8)
    # coarse values in part of the image, so that several rows share buckets
    x[:, : ih // 2] = (x[:, : ih // 2] // 32 * 32).astype(np.int8)
    zp = int(rng.integers(-20, 21))
    w = rng.integers(-127, 128, size=(O, g["kh"], g["kw"], C)).astype(np.int8)
    bias = rng.integers(-5000, 5001, size=O).astype(np.int32)
    proj = rng.integers(-127, 128, size=H * (C if pixel else K)).astype(np.int8)
    in_s, out_s = 0.02, 0.05
    fs = rng.uniform(0.002, 0.01, size=O)
    mult, shift = [], []
    for c in range(O):
        mm, ss = quantize_multiplier(float(np.float64(np.float32(in_s)) *
                                           np.float64(np.float32(fs[c])) /
                                           np.float64(np.float32(out_s))))
        mult.append(mm)
        shift.append(ss)
    out_zp = int(rng.integers(-10, 11))
    act_min = out_zp if act == ACT_RELU else -128
    act_max = 127
    J = C // L if pixel else (K + L - 1) // L    # offset blocks (channel groups in pixel mode)
    off = rng.integers(-30000, 30001, size=J * H).astype(np.int64) if with_off else None
    if with_off:
        off[0] = 2**31 - 1  # extremes: the sum must not wrap
        off[-1] = -2**31
    if pixel:
        if C % L:
            raise ValueError("pixel mode needs L dividing in_c")
        out, ids = trec_s8_pixel_numpy(x, zp, w, bias, proj, g, H, scope, mult, shift,
                                       out_zp, act_min, act_max, off, L=L)
    else:
        out, ids = trec_s8_numpy(x, zp, w, bias, proj, g, L, H, scope, mult, shift, out_zp,
                                 act_min, act_max, off)
    return [
        _arr("geom", "i", _geom_arr(g)),
        _arr("trec", "i", np.array([L, H, scope, act, 2] + ([1] if pixel else []))),
        _arr("input", "b", x),
        _arr("filter", "b", w),
        _arr("bias", "i", bias),
        _arr("proj", "b", proj),
        _arr("q", "i", np.array([zp, out_zp, act_min, act_max])),
        _arr("mult", "i", np.array(mult)),
        _arr("shift", "i", np.array(shift)),
        _arr("ids", "h", ids),
        _arr("output", "b", out),
    ] + ([_arr("offset", "i", off)] if off is not None else [])


def gen_tests(path, seed=1234):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    cases = []
    # (B, in_h, in_w, in_c, out_c, k, stride, dil, padding), L, H, scope, act
    f_specs = [
        ((2, 7, 7, 3, 4, 3, 1, 1, "same"), 9, 4, SCOPE_IMAGE, ACT_NONE, 0),
        ((2, 8, 8, 4, 5, 3, 2, 1, "same"), 5, 6, SCOPE_BATCH, ACT_RELU, 0),
        ((1, 6, 6, 2, 3, 3, 1, 1, "valid"), 18, 16, SCOPE_IMAGE, ACT_NONE, 0),
        ((1, 9, 9, 8, 16, 3, 1, 1, "same"), 8, 8, SCOPE_IMAGE, ACT_NONE, 1),
        ((2, 10, 10, 2, 6, 3, 1, 2, "same"), 7, 5, SCOPE_BATCH, ACT_RELU, 1),
        ((2, 6, 5, 5, 4, 1, 1, 1, "valid"), 5, 3, SCOPE_IMAGE, ACT_NONE, 1),
        ((1, 9, 8, 3, 4, 3, 2, 1, "same"), 4, 7, SCOPE_IMAGE, ACT_RELU6, 1),
        ((2, 7, 7, 3, 4, 3, 1, 1, "same"), 9, 4, SCOPE_IMAGE, ACT_NONE, 2),
        ((1, 9, 9, 8, 16, 3, 1, 1, "same"), 8, 8, SCOPE_BATCH, ACT_RELU, 3),
    ]
    for (B, ih, iw, C, O, k, s, d, pad), L, H, scope, act, kind in f_specs:
        g = make_geom(B, ih, iw, C, O, k, s, d, pad)
        # kinds 2 and 3: kinds 0 and 1 with hyperplane offsets
        cases.append(float_case(rng, g, L, H, scope, act, kind % 2, with_off=kind >= 2))
    s_specs = [
        ((2, 7, 7, 3, 4, 3, 1, 1, "same"), 9, 4, SCOPE_IMAGE, ACT_NONE),
        ((2, 8, 8, 4, 5, 3, 2, 1, "same"), 5, 6, SCOPE_BATCH, ACT_RELU),
        ((1, 6, 6, 4, 8, 3, 1, 1, "valid"), 8, 16, SCOPE_IMAGE, ACT_NONE),
        ((2, 10, 10, 2, 6, 3, 1, 2, "same"), 7, 2, SCOPE_BATCH, ACT_RELU),
        ((1, 9, 8, 3, 4, 3, 2, 1, "same"), 27, 3, SCOPE_IMAGE, ACT_NONE),
        ((2, 8, 8, 4, 5, 3, 2, 1, "same"), 5, 6, SCOPE_IMAGE, ACT_RELU),
    ]
    for i, ((B, ih, iw, C, O, k, s, d, pad), L, H, scope, act) in enumerate(s_specs):
        g = make_geom(B, ih, iw, C, O, k, s, d, pad)
        cases.append(s8_case(rng, g, L, H, scope, act, with_off=i >= 4))
    # pixel mode (L = in_c), appended so that the cases above keep their values; kinds as
    # above (2, 3: 0, 1 with offsets)
    fp_specs = [
        ((2, 7, 7, 3, 4, 3, 1, 1, "same"), 5, SCOPE_IMAGE, ACT_NONE, 0),
        ((2, 7, 7, 3, 4, 3, 1, 1, "same"), 5, SCOPE_IMAGE, ACT_NONE, 2),
        ((2, 8, 8, 4, 5, 3, 2, 1, "same"), 6, SCOPE_BATCH, ACT_RELU, 0),
        ((1, 6, 6, 2, 3, 3, 1, 1, "valid"), 3, SCOPE_IMAGE, ACT_NONE, 3),
        ((1, 9, 9, 8, 16, 3, 1, 1, "same"), 8, SCOPE_IMAGE, ACT_NONE, 1),
        ((2, 10, 10, 2, 6, 3, 1, 2, "same"), 4, SCOPE_BATCH, ACT_RELU, 1),
        ((1, 9, 8, 3, 4, 3, 2, 1, "same"), 7, SCOPE_IMAGE, ACT_RELU6, 3),
        ((1, 8, 8, 16, 8, 5, 1, 1, "same"), 8, SCOPE_IMAGE, ACT_RELU, 1),
        ((2, 6, 5, 5, 4, 1, 1, 1, "valid"), 3, SCOPE_BATCH, ACT_NONE, 2),
    ]
    for (B, ih, iw, C, O, k, s, d, pad), H, scope, act, kind in fp_specs:
        g = make_geom(B, ih, iw, C, O, k, s, d, pad)
        cases.append(float_case(rng, g, C, H, scope, act, kind % 2, with_off=kind >= 2,
                                pixel=True))
    sp_specs = [
        ((2, 7, 7, 3, 4, 3, 1, 1, "same"), 4, SCOPE_IMAGE, ACT_NONE, False),
        ((2, 8, 8, 4, 5, 3, 2, 1, "same"), 6, SCOPE_BATCH, ACT_RELU, False),
        ((1, 6, 6, 4, 8, 3, 1, 1, "valid"), 16, SCOPE_IMAGE, ACT_NONE, True),
        ((2, 10, 10, 2, 6, 3, 1, 2, "same"), 2, SCOPE_BATCH, ACT_RELU, True),
        ((1, 9, 8, 3, 4, 3, 2, 1, "same"), 3, SCOPE_IMAGE, ACT_NONE, True),
        ((1, 8, 8, 16, 8, 5, 1, 1, "same"), 8, SCOPE_IMAGE, ACT_RELU, False),
    ]
    for (B, ih, iw, C, O, k, s, d, pad), H, scope, act, with_off in sp_specs:
        g = make_geom(B, ih, iw, C, O, k, s, d, pad)
        cases.append(s8_case(rng, g, C, H, scope, act, with_off=with_off, pixel=True))
    # pixel mode with channel groups (L < in_c): (geometry), L, H, scope, act, kind
    # (float kinds as above; int8: kind >= 2 with offsets)
    gp_specs = [
        ((2, 7, 7, 4, 4, 3, 1, 1, "same"), 2, 4, SCOPE_IMAGE, ACT_NONE, 0),
        ((2, 8, 8, 6, 5, 3, 2, 1, "same"), 3, 5, SCOPE_BATCH, ACT_RELU, 2),
        ((1, 9, 9, 8, 16, 3, 1, 1, "same"), 4, 6, SCOPE_IMAGE, ACT_NONE, 1),
        ((1, 8, 8, 16, 8, 5, 1, 1, "same"), 4, 7, SCOPE_IMAGE, ACT_RELU, 3),
        ((2, 6, 5, 6, 4, 1, 1, 1, "valid"), 1, 2, SCOPE_BATCH, ACT_NONE, 3),
    ]
    for (B, ih, iw, C, O, k, s, d, pad), L, H, scope, act, kind in gp_specs:
        g = make_geom(B, ih, iw, C, O, k, s, d, pad)
        cases.append(float_case(rng, g, L, H, scope, act, kind % 2, with_off=kind >= 2,
                                pixel=True))
        cases.append(s8_case(rng, g, L, H, scope, act, with_off=kind >= 2, pixel=True))
    demo_sidecar(path + ".trec")
    with open(path, "wb") as f:
        f.write(b"TRECTST1" + struct.pack("<I", len(cases)))
        for arrs in cases:
            f.write(struct.pack("<I", len(arrs)))
            for a in arrs:
                f.write(a)


# ---------------------------------------------------------------------------------------
# export of a layer's parameters (for the sidecar file, docs/trec.md)

def export_layer(m, op_index, input_scale=None):
    """The TREC record of one conv for the sidecar (docs/trec.md): op index, K, L, H,
    scope, the float projections and offsets in the C layout, and their int8 form: each
    projection row scaled to max |p| = 127 and rounded; the int8 kernels hash
    v = x_q - zp = x / input_scale, so an offset o becomes round(o * 127 / (max|p| *
    input_scale)) (int8 data is only exported when input_scale is given or every offset
    is 0). Pixel mode (m.pixel): G = in_c / L blocks of H x L (one per channel group) and
    G * H offsets, record["pixel"] = True (sidecar types bit 3), record["groups"] = G."""
    pixel = bool(getattr(m, "pixel", False))
    flat = m.proj_flat().detach().float().numpy()
    offs = m.offset.detach().float().numpy().reshape(-1)
    s8 = np.zeros_like(flat, dtype=np.int8)
    s32 = np.zeros(offs.size, dtype=np.int64)
    pos = 0
    for j, lj in enumerate(m.proj_lens() if pixel else m.sub_lens()):
        blk = flat[pos:pos + m.H * lj].reshape(m.H, lj)
        scale = np.abs(blk).max(1, keepdims=True)
        scale[scale == 0] = 1
        s8[pos:pos + m.H * lj] = np.clip(np.round(blk / scale * 127), -127, 127).reshape(-1)
        if input_scale is not None:
            s32[j * m.H:(j + 1) * m.H] = np.round(offs[j * m.H:(j + 1) * m.H] * 127 /
                                                  (scale[:, 0] * input_scale))
        pos += m.H * lj
    has_off = bool(np.any(offs != 0))
    int8_ok = input_scale is not None or not has_off
    return dict(op=op_index, K=m.K, sub_len=m.L, hash_bits=m.H, scope=m.scope, pixel=pixel,
                groups=m.G if pixel else 1, proj_f32=flat,
                offset_f32=offs if has_off else None, proj_s8=s8 if int8_ok else None,
                offset_s32=np.clip(s32, -2**31, 2**31 - 1) if has_off and int8_ok else None)


def write_sidecar(path, layers):
    """Writes the TREC sidecar (format in src/reuse/trec.h) from records as returned by
    export_layer (proj_f32 and/or proj_s8 may be None), sorted by op index. A record with
    "pixel" true is written in pixel mode (types bit 3; "groups" G channel groups, default
    1: G blocks of H x L projections, G * H offsets per type; K a multiple of L * G)."""
    layers = sorted(layers, key=lambda r: r["op"])
    n = len(layers)
    off = 16 + 24 * n
    table, blobs = b"", b""
    for r in layers:
        pixel = bool(r.get("pixel"))
        groups = int(r.get("groups", 1)) if pixel else 0
        if pixel and (not 1 <= groups <= 255 or r["K"] % (r["sub_len"] * groups)):
            raise ValueError("pixel-mode layer at op %d: K %d not a multiple of L %d x %d "
                             "channel groups" % (r["op"], r["K"], r["sub_len"], groups))
        hk = r["hash_bits"] * (r["sub_len"] * groups if pixel else r["K"])
        jh = r["hash_bits"] * groups if pixel else \
            (r["K"] + r["sub_len"] - 1) // r["sub_len"] * r["hash_bits"]
        types = (1 if r.get("proj_f32") is not None else 0) | (2 if r.get("proj_s8") is not None else 0)
        if pixel:
            types |= 8
        if r.get("offset_f32") is not None or r.get("offset_s32") is not None:
            types |= 4
        data = b""
        if types & 1:
            data += np.asarray(r["proj_f32"], dtype="<f4").reshape(-1)[:hk].tobytes()
            if types & 4:
                o = r.get("offset_f32")
                data += np.asarray(np.zeros(jh) if o is None else o, dtype="<f4").reshape(-1)[:jh].tobytes()
        if types & 2:
            if types & 4:
                o = r.get("offset_s32")
                data += np.asarray(np.zeros(jh) if o is None else o, dtype="<i4").reshape(-1)[:jh].tobytes()
            data += np.asarray(r["proj_s8"], dtype="i1").reshape(-1)[:hk].tobytes()
        table += struct.pack("<IIHBBBB2xII", r["op"], r["K"], r["sub_len"], r["hash_bits"],
                             r["scope"], types, groups if groups > 1 else 0, off + len(blobs),
                             len(data))
        blobs += data
        blobs += b"\0" * (-len(blobs) % 4)
    total = off + len(blobs)
    with open(path, "wb") as f:
        f.write(b"FRTC" + struct.pack("<HHII", 1, n, total, 0) + table + blobs)


def demo_sidecar(path):
    """A sidecar with known contents for tests/reuse/test_trec_file.c: layers at op indices
    2, 5, 9, 12 with (K, L, H, scope, types) below; proj_f32[i] = i * 0.25 - layer,
    proj_s8[i] = i % 200 - 100, offset_f32[i] = i * 0.5 - 1, offset_s32[i] = i * 1000 - 7.
    The fourth layer (op 12, types 15) is in pixel mode: H * L projections, H offsets."""
    specs = [(2, 27, 9, 4, 0, 7), (5, 144, 16, 8, 1, 1), (9, 7, 7, 16, 0, 2),
             (12, 144, 16, 6, 1, 15)]
    recs = []
    for li, (op, K, L, H, scope, types) in enumerate(specs):
        pixel = bool(types & 8)
        hk = H * (L if pixel else K)
        jh = H if pixel else (K + L - 1) // L * H
        recs.append(dict(op=op, K=K, sub_len=L, hash_bits=H, scope=scope, pixel=pixel,
                         proj_f32=(np.arange(hk) * 0.25 - li) if types & 1 else None,
                         proj_s8=(np.arange(hk) % 200 - 100) if types & 2 else None,
                         offset_f32=(np.arange(jh) * 0.5 - 1) if types & 4 else None,
                         offset_s32=(np.arange(jh) * 1000 - 7) if types & 4 else None))
    write_sidecar(path, recs)


def selftest():
    g = make_geom(2, 6, 6, 3, 4, 3, 1, 1, "same")
    # 16 random hyperplanes rarely put two distinct sub-vectors in one bucket; take the
    # first seed where none does (the identity needs every bucket pure)
    for seed in range(20):
        torch.manual_seed(seed)
        m = module_for(g, 9, 16, SCOPE_IMAGE, ACT_NONE)
        x = torch.randn(2, 3, 6, 6)
        y = m(x)
        X, _, _ = m.rows(x)
        distinct = sum(torch.unique(X[b, :, j], dim=0).shape[0]
                       for b in range(2) for j in range(m.J))
        if m.last_clusters == distinct:
            break
    else:
        raise AssertionError("no seed with pure buckets")
    conv = F.conv2d(x, m.weight, m.bias, stride=1, padding=1)
    err = (y - conv).abs().max().item()
    print("dense identity (H=16): max |trec - conv| = %.3g, clusters %d" % (err, m.last_clusters))
    assert err < 1e-5
    # few bits: real clustering, and gradients reach the projections, weights and input
    m2 = module_for(g, 9, 3, SCOPE_BATCH, ACT_RELU)
    m2.train()
    x.requires_grad_(True)
    out = m2(x)
    assert m2.last_clusters < distinct
    out.square().mean().backward()
    for name, t in (("proj", m2.proj), ("weight", m2.weight), ("input", x)):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0, name
    print("gradients: proj %.3g weight %.3g input %.3g" % (
        m2.proj.grad.norm().item(), m2.weight.grad.norm().item(), x.grad.norm().item()))
    # the forward value in training mode equals eval mode (straight-through)
    m2.eval()
    with torch.no_grad():
        assert torch.equal(m2(x), out.detach())
    selftest_pixel()
    print("selftest ok")


def selftest_pixel():
    """Pixel mode: with pure buckets (H = 16, distinct pixels) the dense conv; forward ==
    forward_fast (values, ids, gradients); the int8 NumPy twin against a direct
    computation; export / sidecar sizes."""
    g = make_geom(2, 7, 6, 16, 5, 3, 2, 1, "same")          # asymmetric SAME padding
    torch.manual_seed(3)
    m = module_for(g, 16, 16, SCOPE_IMAGE, ACT_NONE, pixel=True)
    x = torch.randn(2, 16, 7, 6)
    with torch.no_grad():
        m.offset.copy_(0.1 * torch.randn(1, 16))
        y = m(x)
    npx = 2 * 7 * 6
    ids = m.last_ids.reshape(-1)
    # pure: every bucket of an image holds one pixel, so one partial-product set per
    # (row, tap) inside the image
    X, _, _ = m.rows(torch.ones(2, 16, 7, 6))
    inside = int((X.reshape(-1, m.J, 16)[:, :, 0] != 0).sum())
    assert m.last_clusters == inside, (m.last_clusters, inside)
    pt, pl = g["pad_top"], g["pad_left"]
    pb, pr = g["pad_after"]
    conv = F.conv2d(F.pad(x, (pl, pr, pt, pb)), m.weight, m.bias, 2)
    err = (y - conv).abs().max().item()
    print("pixel dense identity (H=16): max |trec - conv| = %.3g" % err)
    assert err < 1e-5
    # stats
    assert m.last_macs_hash == npx * 16 * 16 and m.last_macs_reuse == inside * 16 * 5
    # few bits: clustering; forward vs forward_fast in eval and training
    m2 = module_for(g, 16, 3, SCOPE_BATCH, ACT_RELU, pixel=True)
    with torch.no_grad():
        m2.offset.copy_(0.3 * torch.randn(1, 3))
    m2.train()
    grads = []
    for fast in (False, True):
        m2.fast = fast
        m2.zero_grad()
        xx = x.clone().requires_grad_(True)
        out = m2(xx)
        out.square().mean().backward()
        grads.append((out.detach(), m2.last_ids.clone(), m2.proj.grad.clone(),
                      m2.offset.grad.clone(), m2.weight.grad.clone(), xx.grad.clone()))
    assert m2.last_clusters < npx * m2.J
    (o0, i0, *g0), (o1, i1, *g1) = grads
    assert torch.equal(i0, i1)
    assert torch.allclose(o0, o1, atol=1e-5), (o0 - o1).abs().max()
    for a, b, n in zip(g0, g1, ("proj", "offset", "weight", "input")):
        assert a.abs().sum() > 0 and torch.allclose(a, b, rtol=1e-4, atol=1e-6), n
    m2.eval()
    with torch.no_grad():
        assert torch.allclose(m2(x), o0, atol=1e-6)       # training value == eval value
    print("pixel forward == forward_fast (values, ids, gradients of proj, offset, weight, "
          "input)")
    # int8 twin vs a direct computation (centroid map, then a dense integer conv)
    rng = np.random.default_rng(5)
    gi = make_geom(2, 6, 5, 3, 4, 3, 1, 1, "same")
    xq = rng.integers(-128, 128, size=(2, 6, 5, 3)).astype(np.int8)
    xq[:, :3] = (xq[:, :3] // 64 * 64).astype(np.int8)
    zp = 7
    w = rng.integers(-127, 128, size=(4, 3, 3, 3)).astype(np.int8)
    bias = rng.integers(-500, 501, size=4).astype(np.int32)
    proj = rng.integers(-127, 128, size=3 * 3).astype(np.int8)
    off = rng.integers(-3000, 3001, size=3)
    mult, shift = [1 << 30] * 4, [-6] * 4
    out, pid = trec_s8_pixel_numpy(xq, zp, w, bias, proj, gi, 3, SCOPE_IMAGE, mult, shift,
                                   0, -128, 127, off)
    v = xq.astype(np.int64) - zp
    want_ids = (((v @ proj.astype(np.int64).reshape(3, 3).T + off) >= 0) << np.arange(3)).sum(-1)
    assert np.array_equal(pid.reshape(2, 6, 5), want_ids)
    cm = np.zeros_like(v)
    for b in range(2):
        for k in np.unique(want_ids[b]):
            sel = want_ids[b] == k
            sm, n = v[b][sel].sum(0), int(sel.sum())
            cm[b][sel] = [round_div(int(t), n) for t in sm]
    acc = F.conv2d(torch.from_numpy(cm).permute(0, 3, 1, 2).double(),
                   torch.from_numpy(w.astype(np.int64)).permute(0, 3, 1, 2).double(),
                   torch.from_numpy(bias.astype(np.int64)).double(), padding=1)
    acc = acc.permute(0, 2, 3, 1).reshape(-1, 4).round().long().numpy()
    ref = np.array([[min(max(mbqm(wrap32(int(a)), mult[o], shift[o]), -128), 127)
                     for o, a in enumerate(r)] for r in acc], dtype=np.int8)
    assert np.array_equal(out, ref)
    print("pixel int8 twin == direct computation (%d clusters in image 0)" %
          len(np.unique(want_ids[0])))
    # export + sidecar size
    r = export_layer(m2, 4, input_scale=0.05)
    assert r["pixel"] and r["proj_f32"].size == 3 * 16 and r["offset_s32"].size == 3
    import tempfile
    import os
    with tempfile.TemporaryDirectory() as td:
        fn = os.path.join(td, "p.trec")
        write_sidecar(fn, [r])
        b = open(fn, "rb").read()
        types, nbytes = struct.unpack_from("<B3xII", b, 16 + 12)[0], struct.unpack_from("<I", b, 16 + 20)[0]
        assert types == 15 and nbytes == 4 * 48 + 48 + 4 * 3 * 2, (types, nbytes)
    print("pixel export: sidecar types 15, %d bytes" % nbytes)


def main(argv):
    if len(argv) >= 3 and argv[1] == "gen-tests":
        gen_tests(argv[2])
        return 0
    if len(argv) == 3 and argv[1] == "demo-sidecar":
        demo_sidecar(argv[2])
        return 0
    if len(argv) == 2 and argv[1] == "selftest":
        selftest()
        return 0
    sys.stderr.write("usage: trec.py gen-tests OUT.bin | demo-sidecar OUT.trec | selftest\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
