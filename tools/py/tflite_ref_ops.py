#!/usr/bin/python3
"""Independent NumPy reference of TensorFlow Lite's operator semantics (int8 and float32),
and a generator of random test cases for the C kernels in src/cnn/.

The integer arithmetic is written from TFLite's documented semantics using Python ints /
int64 NumPy arrays (never int32 wrap-around), with the rounding rules expressed in their
mathematical form:
    SRDHM(a, b)  = trunc((a*b + nudge) / 2^31), nudge = 2^30 if a*b >= 0 else 1 - 2^30,
                   a == b == -2^31 -> 2^31 - 1
    RDPOT(x, e)  = x / 2^e rounded to nearest, ties away from zero
    MBQM(x, M, s) = RDPOT(SRDHM(x * 2^max(s,0), M), max(-s,0))
    QuantizeMultiplier(r): (q, e) = frexp(r); M = round_half_away(q * 2^31); M == 2^31 ->
                   (2^30, e+1); e < -31 -> (0, 0)
The int8 SOFTMAX follows TFLite Micro's reference: gemmlowp fixed-point exp on Q5.26
differences, Q12.19 accumulation, 1/(1+x) Newton-Raphson reciprocal; it is re-derived here
with Python ints and additionally checked against float softmax (|err| <= 2/256).

Usage:
    tflite_ref_ops.py gen OP --seed N --count N --out FILE
    tflite_ref_ops.py selftest
OP is one of: qmult conv_s8 conv_f32 dwconv_s8 dwconv_f32 fc_s8 fc_f32 add_s8 add_f32
avgpool_s8 maxpool_s8 avgpool_f32 maxpool_f32 softmax_s8 softmax_f32 quantize dequantize
requantize.

Case file format (text): a case starts with "case OP" and ends with "end"; in between, one
array per line: "NAME i|f COUNT v1 v2 ..." (i: integers, f: float32 printed with 9
significant digits so they read back exactly).
"""
import math
import sys

import numpy as np

INT32_MIN = -(2 ** 31)
INT32_MAX = 2 ** 31 - 1

# ----------------------------------------------------------------------------------------
# Fixed-point primitives (scalar Python ints and vectorised int64 versions)


def round_half_away(x):
    """std::round for a float/double: nearest integer, ties away from zero (exact)."""
    x = float(x)
    a = abs(x)
    f = math.floor(a)
    r = f + 1 if (a - f) >= 0.5 else f
    return int(-r if x < 0 else r)


def srdhm(a, b):
    if a == INT32_MIN and b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    n = ab + nudge
    q = abs(n) >> 31  # truncation toward zero
    return q if n >= 0 else -q


def rdpot(x, e):
    if e == 0:
        return x
    q = (abs(x) + (1 << (e - 1))) >> e
    return q if x >= 0 else -q


def wrap32(x):
    return ((x + 2 ** 31) % 2 ** 32) - 2 ** 31


def mbqm(x, m, s):
    left = s if s > 0 else 0
    right = -s if s < 0 else 0
    return rdpot(srdhm(wrap32(x * (1 << left)), m), right)


def v_srdhm(a, m):
    """a: int64 array (int32 range), m: int or int64 array."""
    a = np.asarray(a, dtype=np.int64)
    m = np.asarray(m, dtype=np.int64)
    ab = a * m  # |ab| <= 2^62
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30)).astype(np.int64)
    n = ab + nudge
    q = np.abs(n) >> 31
    r = np.where(n >= 0, q, -q)
    sat = (a == INT32_MIN) & (m == INT32_MIN)
    return np.where(sat, INT32_MAX, r).astype(np.int64)


def v_rdpot(x, e):
    x = np.asarray(x, dtype=np.int64)
    e = np.asarray(e, dtype=np.int64)
    half = np.where(e > 0, np.left_shift(np.int64(1), np.maximum(e - 1, 0)), 0)
    q = (np.abs(x) + half) >> e
    return np.where(x >= 0, q, -q).astype(np.int64)


def v_wrap32(x):
    x = np.asarray(x, dtype=np.int64)
    return ((x + 2 ** 31) & 0xFFFFFFFF) - 2 ** 31


def v_mbqm(x, m, s):
    x = np.asarray(x, dtype=np.int64)
    s = np.asarray(s, dtype=np.int64)
    left = np.maximum(s, 0)
    right = np.maximum(-s, 0)
    return v_rdpot(v_srdhm(v_wrap32(x << left), m), right)


def quantize_multiplier(real):
    if real == 0.0:
        return 0, 0
    q, e = math.frexp(real)
    m = round_half_away(q * 2.0 ** 31)
    if m == 2 ** 31:
        m //= 2
        e += 1
    if e < -31:
        e, m = 0, 0
    return m, e


def f32(x):
    return np.float32(x)


def act_range_s8(act, scale, zp):
    def q(v):
        return zp + round_half_away(np.float32(v) / np.float32(scale))

    lo, hi = -128, 127
    if act == 1:
        lo = max(lo, q(0.0))
    elif act == 3:
        lo, hi = max(lo, q(0.0)), min(hi, q(6.0))
    elif act == 2:
        lo, hi = max(lo, q(-1.0)), min(hi, q(1.0))
    return lo, hi


def act_range_f32(act):
    fmax = float(np.finfo(np.float32).max)
    return {0: (-fmax, fmax), 1: (0.0, fmax), 2: (-1.0, 1.0), 3: (0.0, 6.0)}[act]


def out_size(padding, n, k, stride, dil):
    eff = (k - 1) * dil + 1
    return (n + stride - 1) // stride if padding == 0 else (n + stride - eff) // stride


def pad_before(n, k, stride, dil, out):
    eff = (k - 1) * dil + 1
    return max((out - 1) * stride + eff - n, 0) // 2


# ----------------------------------------------------------------------------------------
# Reference operators (NHWC)


def window_taps(g):
    """Yield (fy, fx, iy_index_array, ix_index_array, valid_mask[oh, ow]) for each tap."""
    oy = np.arange(g["out_h"]) * g["stride_h"] - g["pad_top"]
    ox = np.arange(g["out_w"]) * g["stride_w"] - g["pad_left"]
    for fy in range(g["k_h"]):
        iy = oy + fy * g["dil_h"]
        vy = (iy >= 0) & (iy < g["in_h"])
        for fx in range(g["k_w"]):
            ix = ox + fx * g["dil_w"]
            vx = (ix >= 0) & (ix < g["in_w"])
            yield fy, fx, np.clip(iy, 0, g["in_h"] - 1), np.clip(ix, 0, g["in_w"] - 1), \
                vy[:, None] & vx[None, :]


def conv_acc(g, x, w, dtype):
    """x [N,H,W,C] (already offset), w [O,KH,KW,C] -> acc [N,OH,OW,O] (no bias)."""
    acc = np.zeros((g["batch"], g["out_h"], g["out_w"], g["out_c"]), dtype=dtype)
    for fy, fx, iy, ix, valid in window_taps(g):
        patch = x[:, iy][:, :, ix] * valid[None, :, :, None]  # [N,OH,OW,C]
        acc += np.einsum("nhwc,oc->nhwo", patch.astype(dtype), w[:, fy, fx, :].astype(dtype))
    return acc


def dwconv_acc(g, x, w, dtype):
    """x [N,H,W,C], w [1,KH,KW,C*M] -> acc [N,OH,OW,C*M]."""
    M = g["depth_mult"]
    acc = np.zeros((g["batch"], g["out_h"], g["out_w"], g["out_c"]), dtype=dtype)
    for fy, fx, iy, ix, valid in window_taps(g):
        patch = (x[:, iy][:, :, ix] * valid[None, :, :, None]).astype(dtype)
        acc += np.repeat(patch, M, axis=3) * w[0, fy, fx, :].astype(dtype)[None, None, None, :]
    return acc


def requant(acc, mult, shift, out_zp, lo, hi):
    v = v_mbqm(acc, mult, shift) + out_zp
    return np.clip(v, lo, hi).astype(np.int64)


def pool_ref(g, x, kind, lo, hi, is_int):
    N, C = g["batch"], g["in_c"]
    out = np.zeros((N, g["out_h"], g["out_w"], C), dtype=np.int64 if is_int else np.float32)
    for oy in range(g["out_h"]):
        for ox in range(g["out_w"]):
            y0 = oy * g["stride_h"] - g["pad_top"]
            x0 = ox * g["stride_w"] - g["pad_left"]
            ys = slice(max(y0, 0), min(y0 + g["k_h"], g["in_h"]))
            xs = slice(max(x0, 0), min(x0 + g["k_w"], g["in_w"]))
            win = x[:, ys, xs, :]
            cnt = win.shape[1] * win.shape[2]
            if kind == "max":
                v = win.max(axis=(1, 2))
            elif is_int:
                s = win.astype(np.int64).sum(axis=(1, 2))
                # ties away from zero, C truncating division
                q = (np.abs(s) + cnt // 2) // cnt
                v = np.where(s > 0, q, -q)
            else:
                s = np.zeros((N, C), dtype=np.float32)
                for yy in range(win.shape[1]):
                    for xx in range(win.shape[2]):
                        s = (s + win[:, yy, xx, :]).astype(np.float32)
                v = (s / np.float32(cnt)).astype(np.float32)
            out[:, oy, ox, :] = np.clip(v, lo, hi)
    return out


# gemmlowp-style fixed point, re-derived with Python ints
def _sat_shl(x, e):
    t = (1 << (31 - e)) - 1
    if x > t:
        return INT32_MAX
    if x < -t:
        return INT32_MIN
    return x << e


def _exp_quarter(a):
    """exp(a) for a in [-1/4, 0), Q0.31."""
    c_term = 1895147668  # round(exp(-1/8) * 2^31)
    c_third = 715827883  # round(2^31 / 3)
    x = a + (1 << 28)
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    poly = rdpot(srdhm(rdpot(x4, 2) + x3, c_third) + x2, 1)
    return wrap32(c_term + srdhm(c_term, x + poly))


def exp_neg_q5(a):
    """exp(a) for a <= 0 given in Q5.26, result Q0.31."""
    if a == 0:
        return INT32_MAX
    quarter = 1 << 24
    amod = (a & (quarter - 1)) - quarter
    r = _exp_quarter(_sat_shl(amod, 5))
    rem = amod - a
    for i, e in enumerate(range(-2, 5)):
        m = round_half_away(math.exp(-(2.0 ** e)) * 2.0 ** 31)
        if rem & (1 << (26 + e)):
            r = srdhm(r, m)
    return r


def one_over_one_plus_x(a):
    s = a + INT32_MAX
    half_den = (s + (1 if s >= 0 else -1)) // 2 if s >= 0 else -((-s + 1) // 2)
    c48 = 1515870810  # 48/17 in Q2.29
    cm32 = -1010580540  # -32/17 in Q2.29
    x = c48 + srdhm(half_den, cm32)
    for _ in range(3):
        x = x + _sat_shl(srdhm(x, (1 << 29) - srdhm(half_den, x)), 2)
    return _sat_shl(x, 1)


def softmax_s8_prepare(beta, in_scale):
    real = min(float(beta) * float(in_scale) * float(1 << 26), float(2 ** 31 - 1))
    m, s = quantize_multiplier(real)
    radius = math.floor(31.0 * (1 << 26) / (1 << s))  # CalculateInputRadius(5, s, 31)
    return m, s, -radius


def softmax_s8(x, m, s, diff_min):
    rows, depth = x.shape
    out = np.zeros_like(x, dtype=np.int64)
    for r in range(rows):
        mx = int(x[r].max())
        exps = []
        total = 0
        for c in range(depth):
            d = int(x[r, c]) - mx
            if d >= diff_min:
                e = exp_neg_q5(srdhm(d * (1 << s), m))
                total += rdpot(e, 12)
                exps.append(e)
            else:
                exps.append(None)
        lz = 32 - total.bit_length()
        nbou = 12 - lz
        scale = one_over_one_plus_x(wrap32((total << lz) - (1 << 31)))
        expo = nbou + 31 - 8
        for c in range(depth):
            if exps[c] is None:
                out[r, c] = -128
            else:
                out[r, c] = min(max(rdpot(srdhm(scale, exps[c]), expo) - 128, -128), 127)
    return out


# ----------------------------------------------------------------------------------------
# Case writing


class Case:
    def __init__(self, op):
        self.op = op
        self.lines = []

    def i(self, name, vals):
        vals = [int(v) for v in np.asarray(vals).reshape(-1)]
        self.lines.append("%s i %d %s" % (name, len(vals), " ".join(map(str, vals))))

    def f(self, name, vals):
        vals = np.asarray(vals, dtype=np.float32).reshape(-1)
        self.lines.append("%s f %d %s" % (name, len(vals), " ".join("%.9g" % v for v in vals)))

    def text(self):
        return "case %s\n%s\nend\n" % (self.op, "\n".join(self.lines))


def rand_geom(rng, depthwise=False, pool=False):
    while True:
        g = {"batch": int(rng.integers(1, 3)), "in_h": int(rng.integers(1, 13)),
             "in_w": int(rng.integers(1, 13)), "in_c": int(rng.integers(1, 20))}
        g["k_h"] = int(rng.integers(1, 6))
        g["k_w"] = int(rng.integers(1, 6))
        if rng.random() < 0.4:
            g["k_h"] = g["k_w"] = 3
        g["stride_h"] = int(rng.integers(1, 3))
        g["stride_w"] = int(rng.integers(1, 3))
        g["dil_h"] = g["dil_w"] = 1
        if not pool and rng.random() < 0.25:
            g["dil_h"] = int(rng.integers(1, 3))
            g["dil_w"] = int(rng.integers(1, 3))
        g["padding"] = int(rng.integers(0, 2))
        g["depth_mult"] = int(rng.integers(1, 4)) if depthwise and rng.random() < 0.4 else 1
        if depthwise:
            g["out_c"] = g["in_c"] * g["depth_mult"]
        elif pool:
            g["out_c"] = g["in_c"]
        else:
            g["out_c"] = int(rng.integers(1, 40))
        g["out_h"] = out_size(g["padding"], g["in_h"], g["k_h"], g["stride_h"], g["dil_h"])
        g["out_w"] = out_size(g["padding"], g["in_w"], g["k_w"], g["stride_w"], g["dil_w"])
        if g["out_h"] < 1 or g["out_w"] < 1:
            continue
        g["pad_top"] = pad_before(g["in_h"], g["k_h"], g["stride_h"], g["dil_h"], g["out_h"])
        g["pad_left"] = pad_before(g["in_w"], g["k_w"], g["stride_w"], g["dil_w"], g["out_w"])
        return g


GEOM_KEYS = ["batch", "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w",
             "stride_h", "stride_w", "dil_h", "dil_w", "pad_top", "pad_left", "depth_mult",
             "padding"]


def i8(rng, shape):
    return rng.integers(-128, 128, size=shape).astype(np.int64)


def gen_conv_like(rng, kind):
    dw = kind.startswith("dwconv")
    g = rand_geom(rng, depthwise=dw)
    case = Case(kind)
    case.i("geom", [g[k] for k in GEOM_KEYS])
    act = int(rng.choice([0, 1, 3, 2]))
    case.i("act", [act])
    wshape = (1, g["k_h"], g["k_w"], g["out_c"]) if dw else \
        (g["out_c"], g["k_h"], g["k_w"], g["in_c"])
    xshape = (g["batch"], g["in_h"], g["in_w"], g["in_c"])
    has_bias = rng.random() < 0.85
    if kind.endswith("_s8"):
        x = i8(rng, xshape)
        w = rng.integers(-127, 128, size=wshape).astype(np.int64)
        in_s = f32(2.0 ** rng.uniform(-8, 0))
        n_ch = g["out_c"]
        per_channel = rng.random() < 0.8
        fs = (2.0 ** rng.uniform(-10, -3, size=n_ch if per_channel else 1)).astype(np.float32)
        K = g["k_h"] * g["k_w"] * (1 if dw else g["in_c"])
        out_s = f32(float(in_s) * float(np.median(fs)) * math.sqrt(K) * 60.0 *
                    2.0 ** rng.uniform(-1.5, 1.5))
        in_zp = int(rng.integers(-128, 128))
        out_zp = int(rng.integers(-128, 128))
        mults, shifts = zip(*[quantize_multiplier(float(in_s) * float(s) / float(out_s))
                              for s in fs])
        lo, hi = act_range_s8(act, out_s, out_zp)
        bias = rng.integers(-30000, 30000, size=g["out_c"]) if has_bias else None
        acc = (dwconv_acc if dw else conv_acc)(g, x - in_zp, w, np.int64)
        if bias is not None:
            acc = acc + bias[None, None, None, :]
        idx = np.arange(g["out_c"]) if per_channel else np.zeros(g["out_c"], dtype=np.int64)
        y = requant(acc, np.array(mults)[idx], np.array(shifts)[idx], out_zp, lo, hi)
        case.f("scales", [in_s, out_s])
        case.f("filter_scales", fs)
        case.i("zp", [in_zp, out_zp])
        case.i("mult", mults)
        case.i("shift", shifts)
        case.i("act_range", [lo, hi])
        case.i("input", x)
        case.i("filter", w)
        if bias is not None:
            case.i("bias", bias)
        case.i("expected", y)
    else:
        x = rng.standard_normal(xshape).astype(np.float32)
        w = (rng.standard_normal(wshape) * 0.5).astype(np.float32)
        bias = rng.standard_normal(g["out_c"]).astype(np.float32) if has_bias else None
        acc = (dwconv_acc if dw else conv_acc)(g, x.astype(np.float64), w, np.float64)
        if bias is not None:
            acc = acc + bias[None, None, None, :]
        lo, hi = act_range_f32(act)
        y = np.clip(acc, lo, hi).astype(np.float32)
        case.i("act_range_kind", [act])
        case.f("input", x)
        case.f("filter", w)
        if bias is not None:
            case.f("bias", bias)
        case.f("expected", y)
    return case


def gen_fc(rng, kind):
    batch = int(rng.integers(1, 4))
    n_in = int(rng.integers(1, 300))
    n_out = int(rng.integers(1, 40))
    act = int(rng.choice([0, 1, 3]))
    case = Case(kind)
    case.i("dims", [batch, n_in, n_out])
    case.i("act", [act])
    has_bias = rng.random() < 0.85
    if kind == "fc_s8":
        x = i8(rng, (batch, n_in))
        w = rng.integers(-127, 128, size=(n_out, n_in)).astype(np.int64)
        in_s = f32(2.0 ** rng.uniform(-8, 0))
        per_channel = rng.random() < 0.3
        fs = (2.0 ** rng.uniform(-10, -3, size=n_out if per_channel else 1)).astype(np.float32)
        out_s = f32(float(in_s) * float(np.median(fs)) * math.sqrt(n_in) * 60.0 *
                    2.0 ** rng.uniform(-1.5, 1.5))
        in_zp = int(rng.integers(-128, 128))
        out_zp = int(rng.integers(-128, 128))
        mults, shifts = zip(*[quantize_multiplier(float(in_s) * float(s) / float(out_s))
                              for s in fs])
        lo, hi = act_range_s8(act, out_s, out_zp)
        acc = (x - in_zp) @ w.T
        bias = rng.integers(-30000, 30000, size=n_out) if has_bias else None
        if bias is not None:
            acc = acc + bias[None, :]
        idx = np.arange(n_out) if per_channel else np.zeros(n_out, dtype=np.int64)
        y = requant(acc, np.array(mults)[idx], np.array(shifts)[idx], out_zp, lo, hi)
        case.f("scales", [in_s, out_s])
        case.f("filter_scales", fs)
        case.i("zp", [in_zp, out_zp])
        case.i("mult", mults)
        case.i("shift", shifts)
        case.i("act_range", [lo, hi])
        case.i("input", x)
        case.i("filter", w)
        if bias is not None:
            case.i("bias", bias)
        case.i("expected", y)
    else:
        x = rng.standard_normal((batch, n_in)).astype(np.float32)
        w = (rng.standard_normal((n_out, n_in)) * 0.3).astype(np.float32)
        bias = rng.standard_normal(n_out).astype(np.float32) if has_bias else None
        acc = x.astype(np.float64) @ w.T.astype(np.float64)
        if bias is not None:
            acc = acc + bias[None, :]
        lo, hi = act_range_f32(act)
        case.f("input", x)
        case.f("filter", w)
        if bias is not None:
            case.f("bias", bias)
        case.f("expected", np.clip(acc, lo, hi).astype(np.float32))
    return case


def rand_bcast_shapes(rng):
    out = [int(rng.integers(1, 4)), int(rng.integers(1, 7)), int(rng.integers(1, 7)),
           int(rng.integers(1, 20))]
    s1 = [d if rng.random() < 0.75 else 1 for d in out]
    s2 = [d if rng.random() < 0.75 else 1 for d in out]
    return s1, s2


def gen_add(rng, kind):
    case = Case(kind)
    bcast = rng.random() < 0.4
    if bcast:
        s1, s2 = rand_bcast_shapes(rng)
    else:
        s1 = [1, int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 33))]
        s2 = list(s1)
    so = [max(a, b) for a, b in zip(s1, s2)]
    act = int(rng.choice([0, 1, 3]))
    case.i("shapes", s1 + s2 + [1 if bcast else 0])
    case.i("act", [act])
    if kind == "add_s8":
        a = i8(rng, s1)
        b = i8(rng, s2)
        s_1 = f32(2.0 ** rng.uniform(-8, 0))
        s_2 = f32(float(s_1) * 2.0 ** rng.uniform(-3, 3))
        s_o = f32(max(float(s_1), float(s_2)) * 2.0 ** rng.uniform(-0.5, 2.5))
        zp1, zp2, zpo = (int(v) for v in rng.integers(-128, 128, size=3))
        twice_max = float(np.float32(2.0) * np.float32(max(s_1, s_2)))
        m1, sh1 = quantize_multiplier(float(s_1) / twice_max)
        m2, sh2 = quantize_multiplier(float(s_2) / twice_max)
        mo, sho = quantize_multiplier(twice_max / float(np.float32(1 << 20) * np.float32(s_o)))
        lo, hi = act_range_s8(act, s_o, zpo)
        A = np.broadcast_to(a, so).astype(np.int64)
        B = np.broadcast_to(b, so).astype(np.int64)
        x1 = v_mbqm((A - zp1) << 20, m1, sh1)
        x2 = v_mbqm((B - zp2) << 20, m2, sh2)
        y = np.clip(v_mbqm(x1 + x2, mo, sho) + zpo, lo, hi)
        case.f("scales", [s_1, s_2, s_o])
        case.i("zp", [zp1, zp2, zpo])
        case.i("params", [m1, sh1, m2, sh2, mo, sho, lo, hi])
        case.i("in1", a)
        case.i("in2", b)
        case.i("expected", y)
    else:
        a = rng.standard_normal(s1).astype(np.float32)
        b = rng.standard_normal(s2).astype(np.float32)
        lo, hi = act_range_f32(act)
        y = np.clip(np.broadcast_to(a, so) + np.broadcast_to(b, so), lo, hi).astype(np.float32)
        case.f("in1", a)
        case.f("in2", b)
        case.f("expected", y)
    return case


def gen_pool(rng, kind):
    g = rand_geom(rng, pool=True)
    if rng.random() < 0.2:  # global pooling as in the MLPerf models
        g.update(k_h=g["in_h"], k_w=g["in_w"], stride_h=g["in_h"], stride_w=g["in_w"],
                 padding=1, out_h=1, out_w=1, pad_top=0, pad_left=0)
    case = Case(kind)
    case.i("geom", [g[k] for k in GEOM_KEYS])
    xshape = (g["batch"], g["in_h"], g["in_w"], g["in_c"])
    kindp = "max" if kind.startswith("max") else "avg"
    if kind.endswith("_s8"):
        x = i8(rng, xshape)
        lo = int(rng.integers(-128, 0)) if rng.random() < 0.5 else -128
        hi = int(rng.integers(0, 128)) if rng.random() < 0.5 else 127
        case.i("act_range", [lo, hi])
        case.i("input", x)
        case.i("expected", pool_ref(g, x, kindp, lo, hi, True))
    else:
        act = int(rng.choice([0, 1, 3]))
        lo, hi = act_range_f32(act)
        x = rng.standard_normal(xshape).astype(np.float32) * 3
        case.i("act", [act])
        case.f("input", x)
        case.f("expected", pool_ref(g, x, kindp, lo, hi, False))
    return case


def gen_softmax(rng, kind):
    rows = int(rng.integers(1, 5))
    depth = int(rng.integers(1, 40))
    beta = f32(1.0 if rng.random() < 0.6 else 2.0 ** rng.uniform(-2, 1))
    case = Case(kind)
    case.i("dims", [rows, depth])
    if kind == "softmax_s8":
        in_s = f32(2.0 ** rng.uniform(-6, 0))
        x = i8(rng, (rows, depth))
        if rng.random() < 0.3:
            x = np.clip(x // 8 + 60, -128, 127)
        m, s, dmin = softmax_s8_prepare(beta, in_s)
        y = softmax_s8(x, m, s, dmin)
        # sanity: agrees with float softmax to within 2/256
        xf = (x.astype(np.float64) - x.max(axis=1, keepdims=True)) * float(in_s) * float(beta)
        pf = np.exp(xf) / np.exp(xf).sum(axis=1, keepdims=True)
        assert np.abs((y + 128) / 256.0 - pf).max() <= 2.0 / 256, "softmax_s8 self-check"
        case.f("params_f", [beta, in_s])
        case.i("params", [m, s, dmin])
        case.i("input", x)
        case.i("expected", y)
    else:
        x = (rng.standard_normal((rows, depth)) * 4).astype(np.float32)
        z = (x.astype(np.float64) - x.max(axis=1, keepdims=True)) * float(beta)
        y = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        case.f("params_f", [beta])
        case.f("input", x)
        case.f("expected", y.astype(np.float32))
    return case


def gen_quant(rng, kind):
    n = int(rng.integers(1, 200))
    case = Case(kind)
    scale = f32(2.0 ** rng.uniform(-8, 2))
    zp = int(rng.integers(-128, 128))
    if kind == "quantize":
        x = (rng.standard_normal(n) * 100 * float(scale)).astype(np.float32)
        # exact ties: multiples of scale/2
        k = rng.integers(-300, 300, size=n)
        ties = (k.astype(np.float32) + np.float32(0.5)) * scale
        x = np.where(rng.random(n) < 0.3, ties, x).astype(np.float32)
        q = np.array([round_half_away(np.float32(v) / scale) for v in x], dtype=np.int64) + zp
        case.f("params_f", [scale])
        case.i("zp", [zp])
        case.f("input", x)
        case.i("expected", np.clip(q, -128, 127))
    elif kind == "dequantize":
        x = i8(rng, n)
        y = (np.float32(scale) * (x - zp).astype(np.float32)).astype(np.float32)
        case.f("params_f", [scale])
        case.i("zp", [zp])
        case.i("input", x)
        case.f("expected", y)
    else:  # requantize int8 -> int8
        out_s = f32(float(scale) * 2.0 ** rng.uniform(-3, 3))
        out_zp = int(rng.integers(-128, 128))
        m, s = quantize_multiplier(float(scale) / float(out_s))
        x = i8(rng, n)
        y = np.clip(v_mbqm(x - zp, m, s) + out_zp, -128, 127)
        case.f("params_f", [scale, out_s])
        case.i("zp", [zp, out_zp])
        case.i("params", [m, s])
        case.i("input", x)
        case.i("expected", y)
    return case


def gen_qmult(rng, kind):
    """Random doubles -> QuantizeMultiplier, and random (x, M, s) -> MBQM."""
    case = Case(kind)
    n = 200
    # reals spanning many octaves, including exact powers of two and near-1 mantissas
    e = rng.integers(-40, 20, size=n)
    mant = rng.uniform(0.5, 1.0, size=n)
    mant[:10] = 0.5
    mant[10:20] = 1.0 - 2.0 ** -33  # rounds up to 2^31 -> renormalised
    reals = np.ldexp(mant, e)
    mult, shift = zip(*[quantize_multiplier(float(r)) for r in reals])
    case.lines.append("reals d %d %s" % (n, " ".join(repr(float(r)) for r in reals)))
    case.i("mult", mult)
    case.i("shift", shift)
    xs = rng.integers(INT32_MIN, INT32_MAX, size=n, endpoint=True)
    xs[:8] = [INT32_MIN, INT32_MAX, 0, 1, -1, INT32_MIN + 1, 1 << 30, -(1 << 30)]
    ms = rng.integers(1 << 30, INT32_MAX, size=n, endpoint=True)
    ms[:4] = [INT32_MIN, INT32_MAX, 1 << 30, 1]
    ss = rng.integers(-31, 12, size=n)
    ss[:8] = [0, -31, 1, -1, 5, -5, 0, 31]
    case.i("x", xs)
    case.i("m", ms)
    case.i("s", ss)
    case.i("mbqm", [mbqm(int(a), int(b), int(c)) for a, b, c in zip(xs, ms, ss)])
    return case


GENERATORS = {
    "qmult": gen_qmult,
    "conv_s8": gen_conv_like, "conv_f32": gen_conv_like,
    "dwconv_s8": gen_conv_like, "dwconv_f32": gen_conv_like,
    "fc_s8": gen_fc, "fc_f32": gen_fc,
    "add_s8": gen_add, "add_f32": gen_add,
    "avgpool_s8": gen_pool, "maxpool_s8": gen_pool,
    "avgpool_f32": gen_pool, "maxpool_f32": gen_pool,
    "softmax_s8": gen_softmax, "softmax_f32": gen_softmax,
    "quantize": gen_quant, "dequantize": gen_quant, "requantize": gen_quant,
}


def selftest():
    assert srdhm(INT32_MIN, INT32_MIN) == INT32_MAX
    assert srdhm(INT32_MAX, INT32_MAX) == INT32_MAX - 1
    assert rdpot(5, 1) == 3 and rdpot(-5, 1) == -3 and rdpot(-6, 2) == -2 and rdpot(6, 2) == 2
    assert quantize_multiplier(1.0) == (1 << 30, 1)
    assert quantize_multiplier(0.5) == (1 << 30, 0)
    assert quantize_multiplier(2.0 ** -40) == (0, 0)
    # fixed-point exp against float exp
    for v in [-0.001, -0.1, -0.25, -1.0, -3.7, -10.0, -31.9]:
        r = exp_neg_q5(int(round(v * 2 ** 26))) / 2.0 ** 31
        assert abs(r - math.exp(v)) < 1e-6, (v, r)
    for v in [0.0, 0.1, 0.5, 0.9, 0.999]:
        r = one_over_one_plus_x(int(round(v * 2 ** 31))) / 2.0 ** 31
        assert abs(r - 1.0 / (1.0 + v)) < 1e-6, (v, r)
    v = np.array([-(2 ** 31), 2 ** 31 - 1, 12345, -12345], dtype=np.int64)
    for m in [INT32_MIN, 1 << 30, 1518500250]:
        for s in [-31, -7, 0, 3]:
            a = v_mbqm(v, m, s)
            b = [mbqm(int(x), m, s) for x in v]
            assert list(a) == b, (m, s, a, b)
    print("selftest ok")


def main(argv):
    if len(argv) >= 2 and argv[1] == "selftest":
        selftest()
        return 0
    if len(argv) < 3 or argv[1] != "gen" or argv[2] not in GENERATORS:
        sys.stderr.write("usage: tflite_ref_ops.py gen OP --seed N --count N --out FILE | selftest\n")
        return 2
    op = argv[2]
    seed, count, out = 1, 20, None
    i = 3
    while i < len(argv):
        if argv[i] == "--seed" and i + 1 < len(argv):
            seed = int(argv[i + 1])
        elif argv[i] == "--count" and i + 1 < len(argv):
            count = int(argv[i + 1])
        elif argv[i] == "--out" and i + 1 < len(argv):
            out = argv[i + 1]
        else:
            sys.stderr.write("tflite_ref_ops.py: unknown argument %s\n" % argv[i])
            return 2
        i += 2
    rng = np.random.default_rng(seed)
    text = "".join(GENERATORS[op](rng, op).text() for _ in range(count))
    if out:
        with open(out, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
