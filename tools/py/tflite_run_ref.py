#!/usr/bin/python3
"""End-to-end NumPy reference of a TFLite graph, independent of the C runtime.

Parses the model with tflite_inspect.py (standard-library FlatBuffer reader), derives every
operator's parameters itself (geometry, padding, multipliers, activation ranges, zero
points) and runs the graph with the operator semantics of tflite_ref_ops.py (TFLite's
integer arithmetic written with Python / int64 NumPy). Used by tests/cnn/test_models.c to
check frugal's whole int8 pipeline (loader + prepare + kernels) op by op, bit for bit.

usage: tflite_run_ref.py MODEL.tflite INPUTS.bin OUTPUTS.bin
  INPUTS.bin : N raw input tensors back to back (the graph's single input, its own type)
  OUTPUTS.bin: for each input, every operator's output tensor in op order, raw bytes
               (int8 as int8, float32 as float32, int32 as int32)
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tflite_inspect as ti  # noqa: E402
import tflite_ref_ops as R  # noqa: E402

DT = {0: np.float32, 2: np.int32, 9: np.int8, 3: np.uint8, 4: np.int64}


def const(m, t):
    p, n = m["buffers"][t["buffer"]]
    dt = DT[t["type"]]
    return np.frombuffer(m["buf"][p:p + n], dtype=dt).reshape(t["shape"])


def opt(op, field, fmt, default):
    o = op["opts"]
    return default if o is None else o.scalar(field, fmt, default)


def geom(x_shape, padding, kh, kw, sh, sw, dh, dw, out_c, mult=1):
    n, h, w, c = x_shape
    oh = R.out_size(padding, h, kh, sh, dh)
    ow = R.out_size(padding, w, kw, sw, dw)
    return dict(batch=n, in_h=h, in_w=w, in_c=c, out_h=oh, out_w=ow, out_c=out_c, k_h=kh,
                k_w=kw, stride_h=sh, stride_w=sw, dil_h=dh, dil_w=dw,
                pad_top=R.pad_before(h, kh, sh, dh, oh), pad_left=R.pad_before(w, kw, sw, dw, ow),
                depth_mult=mult)


def qparams(t):
    return np.float32(t["scales"][0]), int(t["zps"][0])


def requant_conv(acc, x_t, w_t, y_t, act, out_c):
    in_s, in_zp = qparams(x_t)
    out_s, out_zp = qparams(y_t)
    fs = w_t["scales"]
    mults, shifts = zip(*[R.quantize_multiplier(float(np.float32(in_s)) * float(np.float32(s)) /
                                                float(np.float32(out_s))) for s in fs])
    idx = np.arange(out_c) if len(fs) > 1 else np.zeros(out_c, dtype=np.int64)
    lo, hi = R.act_range_s8(act, out_s, out_zp)
    return R.requant(acc, np.array(mults, dtype=np.int64)[idx],
                     np.array(shifts, dtype=np.int64)[idx], out_zp, lo, hi)


def run_op(m, op, vals):
    T = m["tensors"]
    c = op["code"]
    ins = [i for i in op["inputs"]]
    x_t, y_t = T[ins[0]], T[op["outputs"][0]]
    x = vals[ins[0]]
    q = x_t["type"] == 9
    if c in (3, 4):  # CONV_2D, DEPTHWISE_CONV_2D
        dw = c == 4
        w = const(m, T[ins[1]]).astype(np.int64 if q else np.float64)
        bias = const(m, T[ins[2]]) if len(ins) > 2 and ins[2] >= 0 else None
        pad, sw, sh = opt(op, 0, "b", 0), opt(op, 1, "i", 0), opt(op, 2, "i", 0)
        if dw:
            act, dwf, dhf = opt(op, 4, "b", 0), opt(op, 5, "i", 1), opt(op, 6, "i", 1)
            out_c = w.shape[3]
            g = geom(x.shape, pad, w.shape[1], w.shape[2], sh, sw, dhf, dwf, out_c,
                     out_c // x.shape[3])
        else:
            act, dwf, dhf = opt(op, 3, "b", 0), opt(op, 4, "i", 1), opt(op, 5, "i", 1)
            out_c = w.shape[0]
            g = geom(x.shape, pad, w.shape[1], w.shape[2], sh, sw, dhf, dwf, out_c)
        accf = R.dwconv_acc if dw else R.conv_acc
        if q:
            acc = accf(g, x.astype(np.int64) - qparams(x_t)[1], w, np.int64)
            if bias is not None:
                acc = acc + bias.astype(np.int64)[None, None, None, :]
            return requant_conv(acc, x_t, T[ins[1]], y_t, act, out_c).astype(np.int8)
        acc = accf(g, x.astype(np.float64), w, np.float64)
        if bias is not None:
            acc = acc + bias[None, None, None, :]
        lo, hi = R.act_range_f32(act)
        return np.clip(acc, lo, hi).astype(np.float32)
    if c == 9:  # FULLY_CONNECTED
        w = const(m, T[ins[1]])
        bias = const(m, T[ins[2]]) if len(ins) > 2 and ins[2] >= 0 else None
        act = opt(op, 0, "b", 0)
        xx = x.reshape(-1, w.shape[1])
        if q:
            acc = (xx.astype(np.int64) - qparams(x_t)[1]) @ w.astype(np.int64).T
            if bias is not None:
                acc = acc + bias.astype(np.int64)[None, :]
            y = requant_conv(acc, x_t, T[ins[1]], y_t, act, w.shape[0])
            return y.astype(np.int8).reshape(y_t["shape"])
        acc = xx.astype(np.float64) @ w.astype(np.float64).T
        if bias is not None:
            acc = acc + bias[None, :]
        lo, hi = R.act_range_f32(act)
        return np.clip(acc, lo, hi).astype(np.float32).reshape(y_t["shape"])
    if c == 0:  # ADD (same shapes, as in the models)
        b = vals[ins[1]]
        act = opt(op, 0, "b", 0)
        if q:
            s1, z1 = qparams(x_t)
            s2, z2 = qparams(T[ins[1]])
            so, zo = qparams(y_t)
            twice_max = float(np.float32(2.0) * np.float32(max(s1, s2)))
            m1, e1 = R.quantize_multiplier(float(s1) / twice_max)
            m2, e2 = R.quantize_multiplier(float(s2) / twice_max)
            mo, eo = R.quantize_multiplier(twice_max / float(np.float32(1 << 20) * so))
            lo, hi = R.act_range_s8(act, so, zo)
            a1 = R.v_mbqm((x.astype(np.int64) - z1) << 20, m1, e1)
            a2 = R.v_mbqm((b.astype(np.int64) - z2) << 20, m2, e2)
            return np.clip(R.v_mbqm(a1 + a2, mo, eo) + zo, lo, hi).astype(np.int8)
        lo, hi = R.act_range_f32(act)
        return np.clip(x + b, lo, hi).astype(np.float32)
    if c in (1, 17):  # AVERAGE_POOL_2D, MAX_POOL_2D
        pad, sw, sh = opt(op, 0, "b", 0), opt(op, 1, "i", 0), opt(op, 2, "i", 0)
        fw, fh, act = opt(op, 3, "i", 0), opt(op, 4, "i", 0), opt(op, 5, "b", 0)
        g = geom(x.shape, pad, fh, fw, sh, sw, 1, 1, x.shape[3])
        kind = "max" if c == 17 else "avg"
        if q:
            so, zo = qparams(y_t)
            lo, hi = R.act_range_s8(act, so, zo)
            return R.pool_ref(g, x.astype(np.int64), kind, lo, hi, True).astype(np.int8)
        lo, hi = R.act_range_f32(act)
        return R.pool_ref(g, x, kind, lo, hi, False).astype(np.float32)
    if c == 22:  # RESHAPE
        return x.reshape(y_t["shape"])
    if c == 25:  # SOFTMAX
        beta = opt(op, 0, "f", 1.0)
        depth = x.shape[-1]
        if q:
            mm, ss, dmin = R.softmax_s8_prepare(beta, qparams(x_t)[0])
            y = R.softmax_s8(x.reshape(-1, depth).astype(np.int64), mm, ss, dmin)
            return y.astype(np.int8).reshape(y_t["shape"])
        z = x.reshape(-1, depth).astype(np.float64) * beta
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32).reshape(y_t["shape"])
    if c == 114 and x_t["type"] == 0:  # QUANTIZE float -> int8
        so, zo = qparams(y_t)
        v = (x.astype(np.float32) / so).astype(np.float32)
        r = np.where(v >= 0, np.floor(v + 0.5), -np.floor(-v + 0.5))
        return np.clip(r + zo, -128, 127).astype(np.int8)
    if c == 6:  # DEQUANTIZE int8 -> float
        s, z = qparams(x_t)
        return (s * (x.astype(np.int32) - z).astype(np.float32)).astype(np.float32)
    raise SystemExit("tflite_run_ref.py: operator %d not implemented" % c)


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    m = ti.load(sys.argv[1])
    (inp,) = m["inputs"]
    t_in = m["tensors"][inp]
    dt = DT[t_in["type"]]
    n_in = int(np.prod(t_in["shape"]))
    raw = np.fromfile(sys.argv[2], dtype=dt)
    if raw.size % n_in:
        raise SystemExit("tflite_run_ref.py: %s: size is not a multiple of the input" % sys.argv[2])
    with open(sys.argv[3], "wb") as f:
        for k in range(raw.size // n_in):
            vals = {inp: raw[k * n_in:(k + 1) * n_in].reshape(t_in["shape"])}
            for op in m["ops"]:
                y = run_op(m, op, vals)
                vals[op["outputs"][0]] = y
                f.write(np.ascontiguousarray(y).tobytes())
    return 0


if __name__ == "__main__":
    sys.exit(main())
