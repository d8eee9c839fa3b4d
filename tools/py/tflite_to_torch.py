#!/usr/bin/python3
"""Build a torch.nn.Module equivalent to a float .tflite CNN and export it to ONNX.

usage: tflite_to_torch.py MODEL.tflite [--onnx OUT.onnx [--check-ort]]
                          [--check DRIVER --check-name NAME] [--tol T]

The module reads the weights straight from the FlatBuffer (tools/py/tflite_inspect.py
parses it), keeps 4-D activations in PyTorch's NCHW layout (TFLite is NHWC: weights and
reshapes are permuted accordingly) and turns TFLite's SAME padding into explicit,
possibly asymmetric, zero pads. int8 weights of "hybrid" float models are dequantised
(per channel) to float. The module takes and returns float32; its input is NCHW.

--onnx   exports with torch.onnx.export (opset 13; works without the onnx package);
         input name "input" (NCHW, batch 1), output name "output".
--check-ort  runs the exported ONNX file with ONNX Runtime (node + bench/cnn/ort_run.js,
         onnxruntime-node from bench/peers/cnn) on two random inputs and requires the
         torch outputs within --tol.
--check  runs frugal's float build of the firmware driver (mcu/fw_main.c built for the
         host, e.g. build/mcu/host/fw_kws_f), which prints the outputs for its
         deterministic inputs; the same inputs are rebuilt here (xorshift32 seeded with
         FNV-1a of --check-name and the input index) and every output must agree within
         --tol (absolute, default 1e-4). Exit 1 on a mismatch.
Supported operators: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, AVERAGE_POOL_2D,
MAX_POOL_2D, ADD, MUL, RESHAPE, SQUEEZE, SOFTMAX, PAD, MEAN, RELU, RELU6, LOGISTIC, TANH,
DEQUANTIZE (of constants). Errors are one line naming the file; exit 1.
"""
import argparse
import os
import subprocess
import sys
import warnings

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tflite_inspect  # noqa: E402

NP_TYPES = {0: np.float32, 2: np.int32, 3: np.uint8, 4: np.int64, 7: np.int16, 9: np.int8,
            1: np.float16}
NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}


class ConvertError(Exception):
    pass


def const_array(m, t, path):
    """The float (dequantised if needed) value of a constant tensor, in TFLite layout."""
    pos, n = m["buffers"][t["buffer"]] if t["buffer"] < len(m["buffers"]) else (None, 0)
    if pos is None or n == 0:
        raise ConvertError("%s: tensor '%s' has no data" % (path, t["name"]))
    dt = NP_TYPES.get(t["type"])
    if dt is None:
        raise ConvertError("%s: tensor '%s' has unsupported type %d" % (path, t["name"], t["type"]))
    count = int(np.prod(t["shape"])) if t["shape"] else 1
    if count * np.dtype(dt).itemsize > n:
        raise ConvertError("%s: tensor '%s' data is shorter than its shape" % (path, t["name"]))
    a = np.frombuffer(m["buf"], dtype=dt, count=count, offset=pos).reshape(t["shape"] or [])
    if t["type"] in (3, 7, 9) and t["scales"]:
        scales = np.asarray(t["scales"], np.float32)
        zps = np.asarray(t["zps"] or [0] * len(scales), np.float32)
        if len(scales) > 1:
            shape = [1] * a.ndim
            shape[t["qdim"]] = len(scales)
            scales = scales.reshape(shape)
            zps = zps.reshape(shape)
        return (a.astype(np.float32) - zps) * scales
    if t["type"] in (0, 1):
        return a.astype(np.float32)
    return a


def same_pads(size, k, stride, dil):
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + (k - 1) * dil + 1 - size, 0)
    return total // 2, total - total // 2


def activation(x, act, path):
    if act == 0:
        return x
    if act == 1:
        return F.relu(x)
    if act == 2:
        return torch.clamp(x, -1.0, 1.0)
    if act == 3:
        return torch.clamp(x, 0.0, 6.0)
    if act == 4:
        return torch.tanh(x)
    raise ConvertError("%s: unsupported fused activation %d" % (path, act))


class TFLiteNet(torch.nn.Module):
    """Runs the operators of the first subgraph in order, NCHW for 4-D activations."""

    def __init__(self, path):
        super().__init__()
        self.path = path
        try:
            m = tflite_inspect.load(path)
        except (OSError, IndexError, ValueError, KeyError, tflite_inspect.struct.error) as e:
            raise ConvertError("%s: cannot parse: %s" % (path, e))
        self.m = m
        self.tensors = m["tensors"]
        if len(m["inputs"]) != 1 or len(m["outputs"]) != 1:
            raise ConvertError("%s: only one input and one output are supported" % path)
        self.in_idx, self.out_idx = m["inputs"][0], m["outputs"][0]
        produced = {o for op in m["ops"] for o in op["outputs"]}
        self.consts = {}
        for op in m["ops"]:
            for i in op["inputs"]:
                if i >= 0 and i not in produced and i != self.in_idx and i not in self.consts:
                    self.consts[i] = const_array(m, self.tensors[i], path)
        self.w = {}
        for op_i, op in enumerate(m["ops"]):
            c = op["code"]
            if c == 3:  # CONV_2D: [O,KH,KW,I] -> [O,I,KH,KW]
                self._param(op_i, "w", np.transpose(self.consts[op["inputs"][1]], (0, 3, 1, 2)))
            elif c == 4:  # DEPTHWISE: [1,KH,KW,C*M] -> [C*M,1,KH,KW]
                self._param(op_i, "w", np.transpose(self.consts[op["inputs"][1]], (3, 0, 1, 2)))
            elif c == 9:
                self._param(op_i, "w", self.consts[op["inputs"][1]])
            if c in (3, 4, 9) and len(op["inputs"]) > 2 and op["inputs"][2] >= 0:
                self._param(op_i, "b", self.consts[op["inputs"][2]].astype(np.float32))
        supported = {0, 1, 3, 4, 6, 9, 14, 17, 18, 19, 21, 22, 25, 28, 34, 40, 43}
        for op in m["ops"]:
            if op["code"] not in supported:
                raise ConvertError("%s: operator %s is not supported" % (
                    path, tflite_inspect.OPS.get(op["code"], str(op["code"]))))

    def _param(self, op_i, kind, arr):
        name = "%s%d" % (kind, op_i)
        self.register_buffer(name, torch.from_numpy(np.ascontiguousarray(arr, np.float32)))
        self.w[(op_i, kind)] = name

    def _get(self, env, idx):
        if idx in env:
            return env[idx]
        a = self.consts[idx]
        t = torch.from_numpy(np.ascontiguousarray(a, np.float32))
        if t.dim() == 4:
            t = t.permute(0, 3, 1, 2)
        return t

    def _shape(self, idx):
        return self.tensors[idx]["shape"]

    def forward(self, x):
        env = {self.in_idx: x}
        p = self.path
        for op_i, op in enumerate(self.m["ops"]):
            c, o = op["code"], op["opts"]
            ins, out = op["inputs"], op["outputs"][0]
            if c in (3, 4):
                xin = self._get(env, ins[0])
                w = getattr(self, self.w[(op_i, "w")])
                b = getattr(self, self.w[(op_i, "b")]) if (op_i, "b") in self.w else None
                if c == 3:
                    padding, sw, sh, act = o.scalar(0, "b"), o.scalar(1, "i"), o.scalar(2, "i"), o.scalar(3, "b")
                    dw, dh = o.scalar(4, "i", 1), o.scalar(5, "i", 1)
                    groups = 1
                else:
                    padding, sw, sh = o.scalar(0, "b"), o.scalar(1, "i"), o.scalar(2, "i")
                    act, dw, dh = o.scalar(4, "b"), o.scalar(5, "i", 1), o.scalar(6, "i", 1)
                    groups = self._shape(ins[0])[3]
                kh, kw = w.shape[2], w.shape[3]
                if padding == 0:
                    _, h, wd, _ = self._shape(ins[0])
                    pt, pb = same_pads(h, kh, sh, dh)
                    pl, pr = same_pads(wd, kw, sw, dw)
                    if pt or pb or pl or pr:
                        xin = F.pad(xin, (pl, pr, pt, pb))
                y = F.conv2d(xin, w, b, stride=(sh, sw), dilation=(dh, dw), groups=groups)
                env[out] = activation(y, act, p)
            elif c == 9:
                xin = self._get(env, ins[0])
                if xin.dim() == 4:
                    xin = xin.permute(0, 2, 3, 1)
                w = getattr(self, self.w[(op_i, "w")])
                xin = xin.reshape(-1, w.shape[1])
                b = getattr(self, self.w[(op_i, "b")]) if (op_i, "b") in self.w else None
                y = activation(F.linear(xin, w, b), o.scalar(0, "b") if o else 0, p)
                shp = [-1] + list(self._shape(out))[1:]
                env[out] = y.reshape(shp) if len(shp) != 4 else y.reshape(shp).permute(0, 3, 1, 2)
            elif c in (1, 17):
                xin = self._get(env, ins[0])
                padding, sw, sh = o.scalar(0, "b"), o.scalar(1, "i"), o.scalar(2, "i")
                fw, fh, act = o.scalar(3, "i"), o.scalar(4, "i"), o.scalar(5, "b")
                pt = pb = pl = pr = 0
                if padding == 0:
                    _, h, wd, _ = self._shape(ins[0])
                    pt, pb = same_pads(h, fh, sh, 1)
                    pl, pr = same_pads(wd, fw, sw, 1)
                if c == 17:
                    if pt or pb or pl or pr:
                        xin = F.pad(xin, (pl, pr, pt, pb), value=float("-inf"))
                    y = F.max_pool2d(xin, (fh, fw), (sh, sw))
                else:
                    if (pt, pl) != (pb, pr):
                        raise ConvertError("%s: AVERAGE_POOL_2D with asymmetric SAME padding" % p)
                    y = F.avg_pool2d(xin, (fh, fw), (sh, sw), padding=(pt, pl), count_include_pad=False)
                env[out] = activation(y, act, p)
            elif c in (0, 18):
                a, b = self._get(env, ins[0]), self._get(env, ins[1])
                y = a + b if c == 0 else a * b
                env[out] = activation(y, o.scalar(0, "b") if o else 0, p)
            elif c in (22, 43):
                xin = self._get(env, ins[0])
                if xin.dim() == 4:
                    xin = xin.permute(0, 2, 3, 1)
                shp = [-1] + list(self._shape(out))[1:]  # batch may exceed the file's 1
                y = xin.reshape(shp)
                env[out] = y.permute(0, 3, 1, 2) if len(shp) == 4 else y
            elif c == 25:
                xin = self._get(env, ins[0])
                beta = o.scalar(0, "f", 1.0) if o else 1.0
                env[out] = F.softmax(xin * beta, dim=1 if xin.dim() == 4 else -1)
            elif c == 34:
                xin = self._get(env, ins[0])
                pads = self.consts[ins[1]].astype(np.int64).tolist()
                if xin.dim() != 4:
                    raise ConvertError("%s: PAD of a non 4-D tensor" % p)
                (n0, n1), (h0, h1), (w0, w1), (c0, c1) = pads
                env[out] = F.pad(xin, (w0, w1, h0, h1, c0, c1, n0, n1))
            elif c == 40:
                xin = self._get(env, ins[0])
                axes = [int(a) for a in np.atleast_1d(self.consts[ins[1]])]
                keep = bool(o.scalar(0, "B", 0)) if o else False
                if xin.dim() == 4:
                    xin = xin.permute(0, 2, 3, 1)
                y = xin.mean(dim=[a % xin.dim() for a in axes], keepdim=keep)
                env[out] = y.permute(0, 3, 1, 2) if y.dim() == 4 else y
            elif c in (19, 21, 14, 28):
                xin = self._get(env, ins[0])
                env[out] = {19: F.relu, 21: lambda t: torch.clamp(t, 0.0, 6.0),
                            14: torch.sigmoid, 28: torch.tanh}[c](xin)
            elif c == 6:
                env[out] = self._get(env, ins[0])
        return env[self.out_idx]

    def input_shape_nchw(self):
        s = self._shape(self.in_idx)
        if len(s) != 4:
            raise ConvertError("%s: the input is not 4-D" % self.path)
        return [s[0], s[3], s[1], s[2]]

    def input_shape_nhwc(self):
        return list(self._shape(self.in_idx))


def driver_inputs(name, k, n):
    """The inputs mcu/fw_main.c generates for a float model: xorshift32 >> 24 / 256."""
    h = 2166136261
    for ch in name.encode():
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    h = ((h ^ k) * 16777619) & 0xFFFFFFFF
    s = h or 1
    out = np.empty(n, np.float32)
    for i in range(n):
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        out[i] = (s >> 24) / 256.0
    return out


def check(net, driver, name, tol):
    try:
        res = subprocess.run([driver], capture_output=True, text=True, timeout=300)
    except OSError as e:
        raise ConvertError("%s: cannot run: %s" % (driver, e.strerror))
    if res.returncode != 0:
        raise ConvertError("%s: exit status %d: %s" % (driver, res.returncode, res.stdout.strip()[-200:]))
    nhwc = net.input_shape_nhwc()
    n = int(np.prod(nhwc))
    worst = 0.0
    count = 0
    for line in res.stdout.splitlines():
        if not line.startswith("input "):
            continue
        head, vals = line.split(":", 1)
        k = int(head.split()[1])
        got = np.array([int(v) for v in vals.split("top")[0].split()], np.float64) / 1e6
        x = torch.from_numpy(driver_inputs(name, k, n).reshape(nhwc)).permute(0, 3, 1, 2)
        with torch.no_grad():
            ref = net(x).reshape(-1).double().numpy()
        if ref.shape != got.shape:
            raise ConvertError("%s: %d outputs, torch gives %d" % (driver, got.size, ref.size))
        err = float(np.max(np.abs(ref - got)))
        worst = max(worst, err)
        count += 1
        print("check input %d: max |frugal - torch| = %.3g (top frugal %d, torch %d)" % (
            k, err, int(np.argmax(got)), int(np.argmax(ref))))
    if count == 0:
        raise ConvertError("%s: printed no outputs" % driver)
    if worst > tol:
        raise ConvertError("%s: frugal and torch differ by %.3g > %.3g" % (driver, worst, tol))
    print("check: %d inputs agree within %.3g" % (count, tol))


def check_ort(net, onnx_path, tol):
    import json
    import tempfile
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    js = os.path.join(root, "bench", "cnn", "ort_run.js")
    shape = net.input_shape_nchw()
    rng = np.random.RandomState(1)
    worst = 0.0
    for k in range(2):
        x = rng.rand(*shape).astype(np.float32)
        with tempfile.NamedTemporaryFile(suffix=".f32") as f:
            x.tofile(f.name)
            try:
                r = subprocess.run(["node", js, onnx_path, f.name, ",".join(map(str, shape))],
                                   capture_output=True, text=True, timeout=120)
            except OSError as e:
                raise ConvertError("node: cannot run: %s" % e.strerror)
        if r.returncode != 0:
            raise ConvertError("%s: ONNX Runtime failed: %s" % (onnx_path, r.stderr.strip()[-300:]))
        got = np.array(json.loads(r.stdout), np.float64)
        with torch.no_grad():
            ref = net(torch.from_numpy(x)).reshape(-1).double().numpy()
        if got.shape != ref.shape:
            raise ConvertError("%s: ONNX Runtime gives %d outputs, torch %d" % (onnx_path, got.size, ref.size))
        worst = max(worst, float(np.max(np.abs(got - ref))))
    if worst > tol:
        raise ConvertError("%s: ONNX Runtime and torch differ by %.3g > %.3g" % (onnx_path, worst, tol))
    print("check-ort: ONNX Runtime == torch within %.3g (max %.3g)" % (tol, worst))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--onnx")
    ap.add_argument("--check")
    ap.add_argument("--check-ort", action="store_true")
    ap.add_argument("--check-name")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    warnings.filterwarnings("ignore")  # torch.onnx's shape-inference chatter
    try:
        net = TFLiteNet(a.model).eval()
        if any(t["type"] == 9 and i == net.in_idx for i, t in enumerate(net.tensors)):
            raise ConvertError("%s: int8 input: convert the float model" % a.model)
        x = torch.zeros(net.input_shape_nchw())
        with torch.no_grad():
            y = net(x)
        print("%s: %d operators, input NCHW %s, output %s" % (
            a.model, len(net.m["ops"]), list(x.shape), list(y.shape)))
        if a.check:
            check(net, a.check, a.check_name or "model", a.tol)
        if a.onnx:
            torch.onnx.export(net, x, a.onnx, input_names=["input"], output_names=["output"],
                              opset_version=13, do_constant_folding=True)
            print("wrote %s (%d bytes)" % (a.onnx, os.path.getsize(a.onnx)))
            if a.check_ort:
                check_ort(net, a.onnx, a.tol)
        elif a.check_ort:
            raise ConvertError("--check-ort needs --onnx")
    except ConvertError as e:
        print("tflite_to_torch.py: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
