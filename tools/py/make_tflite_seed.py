#!/usr/bin/python3
"""Writes tiny TFLite models (a few hundred bytes) that use every operator frugal runs.

They are the fuzz seeds in fuzz/seeds/tflite/ and small inputs for the reader tests.
A minimal FlatBuffer writer (standard library only) lays objects out front to back: a
table's children always come after it, so every uoffset is positive.

usage: make_tflite_seed.py OUT_DIR
  writes tiny_int8.tflite  QUANTIZE, CONV_2D, DEPTHWISE_CONV_2D, MAX_POOL_2D, ADD,
                           AVERAGE_POOL_2D, RESHAPE, FULLY_CONNECTED, SOFTMAX, DEQUANTIZE
         tiny_float.tflite the same graph in float32 (no QUANTIZE / DEQUANTIZE)
"""
import os
import random
import struct
import sys


class Table:
    def __init__(self, fields):
        self.fields = fields  # list of (id, kind, value); kind: b B i I f ref


class Vec:
    def __init__(self, fmt, items, align=4):
        self.fmt, self.items, self.align = fmt, items, align


class VecT:
    def __init__(self, tables):
        self.tables = tables


class Str:
    def __init__(self, s):
        self.s = s.encode()


SIZES = {"b": 1, "B": 1, "i": 4, "I": 4, "f": 4, "ref": 4}


class Writer:
    def __init__(self):
        self.buf = bytearray(b"\0\0\0\0TFL3")
        self.queue = []  # (patch_pos, obj)

    def pad(self, align, extra=0):
        while (len(self.buf) + extra) % align:
            self.buf.append(0)

    def emit(self, obj):
        """Writes obj and returns the position that references point to."""
        if isinstance(obj, Table):
            fields = sorted(obj.fields, key=lambda f: -SIZES[f[1]])
            n_slots = max(f[0] for f in fields) + 1 if fields else 0
            layout, off = {}, 4
            for fid, kind, _ in fields:
                sz = SIZES[kind]
                off = (off + sz - 1) // sz * sz
                layout[fid] = off
                off += sz
            tbl_size = (off + 3) // 4 * 4
            self.pad(2)
            vt = len(self.buf)
            self.buf += struct.pack("<HH", 4 + 2 * n_slots, tbl_size)
            for s in range(n_slots):
                self.buf += struct.pack("<H", layout.get(s, 0))
            self.pad(4)
            pos = len(self.buf)
            self.buf += bytes(tbl_size)
            struct.pack_into("<i", self.buf, pos, pos - vt)
            for fid, kind, val in fields:
                p = pos + layout[fid]
                if kind == "ref":
                    self.queue.append((p, val))
                else:
                    struct.pack_into("<" + kind, self.buf, p, val)
            return pos
        if isinstance(obj, Vec):
            size = struct.calcsize("<" + obj.fmt)
            self.pad(max(obj.align, 4), 4)
            pos = len(self.buf)
            self.buf += struct.pack("<I", len(obj.items))
            for x in obj.items:
                self.buf += struct.pack("<" + obj.fmt, x)
            del size
            return pos
        if isinstance(obj, VecT):
            self.pad(4)
            pos = len(self.buf)
            self.buf += struct.pack("<I", len(obj.tables))
            for t in obj.tables:
                self.queue.append((len(self.buf), t))
                self.buf += bytes(4)
            return pos
        if isinstance(obj, Str):
            self.pad(4)
            pos = len(self.buf)
            self.buf += struct.pack("<I", len(obj.s)) + obj.s + b"\0"
            return pos
        raise TypeError(obj)

    def finish(self, root):
        self.pad(4)
        self.queue.append((0, root))
        while self.queue:
            patch, obj = self.queue.pop(0)
            pos = self.emit(obj)
            struct.pack_into("<I", self.buf, patch, pos - patch)
        self.pad(4)
        return bytes(self.buf)


OP = {"ADD": 0, "AVERAGE_POOL_2D": 1, "CONV_2D": 3, "DEPTHWISE_CONV_2D": 4, "DEQUANTIZE": 6,
      "FULLY_CONNECTED": 9, "MAX_POOL_2D": 17, "RESHAPE": 22, "SOFTMAX": 25, "QUANTIZE": 114}
F32, I32, I8 = 0, 2, 9


def build(quant):
    rnd = random.Random(7)
    tensors, buffers, ops, codes = [], [Table([])], [], []

    def tensor(name, shape, typ, data=None, scales=None, zps=None, qdim=0):
        fields = [(0, "ref", Vec("i", shape)), (1, "b", typ), (3, "ref", Str(name))]
        if data is not None:
            buffers.append(Table([(0, "ref", Vec("B", list(data), 16))]))
            fields.append((2, "I", len(buffers) - 1))
        if scales is not None:
            q = [(2, "ref", Vec("f", scales)), (3, "ref", Vec("q", zps or [0] * len(scales), 8))]
            if len(scales) > 1:
                q.append((6, "i", qdim))
            fields.append((4, "ref", Table(q)))
        tensors.append(Table(fields))
        return len(tensors) - 1

    def op(name, ins, outs, opt_type=0, opts=None):
        if OP[name] not in codes:
            codes.append(OP[name])
        fields = [(0, "I", codes.index(OP[name])), (1, "ref", Vec("i", ins)),
                  (2, "ref", Vec("i", outs))]
        if opts is not None:
            fields += [(3, "B", opt_type), (4, "ref", Table(opts))]
        ops.append(Table(fields))

    def weights(n):
        if quant:
            return struct.pack("<%db" % n, *[rnd.randint(-127, 127) for _ in range(n)])
        return struct.pack("<%df" % n, *[rnd.uniform(-1, 1) for _ in range(n)])

    def bias(n):
        if quant:
            return struct.pack("<%di" % n, *[rnd.randint(-500, 500) for _ in range(n)])
        return struct.pack("<%df" % n, *[rnd.uniform(-0.5, 0.5) for _ in range(n)])

    act = I8 if quant else F32

    def q(scale, zp):
        return dict(scales=[scale], zps=[zp]) if quant else {}

    inputs = []
    if quant:
        x_f = tensor("input_f32", [1, 4, 4, 2], F32)
        inputs.append(x_f)
        x = tensor("input_q", [1, 4, 4, 2], I8, **q(0.5, -10))
        op("QUANTIZE", [x_f], [x])
    else:
        x = tensor("input", [1, 4, 4, 2], F32)
        inputs.append(x)
    cs = [0.01, 0.02, 0.03]
    cw = tensor("conv_w", [3, 3, 3, 2], act, weights(54),
                **(dict(scales=cs, zps=[0, 0, 0], qdim=0) if quant else {}))
    cb = tensor("conv_b", [3], I32 if quant else F32, bias(3),
                **(dict(scales=[0.5 * s for s in cs], zps=[0, 0, 0]) if quant else {}))
    c = tensor("conv_out", [1, 4, 4, 3], act, **q(0.1, -5))
    op("CONV_2D", [x, cw, cb], [c], 1, [(0, "b", 0), (1, "i", 1), (2, "i", 1), (3, "b", 1)])
    ds = [0.02, 0.01, 0.04]
    dw = tensor("dw_w", [1, 3, 3, 3], act, weights(27),
                **(dict(scales=ds, zps=[0, 0, 0], qdim=3) if quant else {}))
    db = tensor("dw_b", [3], I32 if quant else F32, bias(3),
                **(dict(scales=[0.1 * s for s in ds], zps=[0, 0, 0]) if quant else {}))
    d = tensor("dw_out", [1, 2, 2, 3], act, **q(0.15, 2))
    op("DEPTHWISE_CONV_2D", [c, dw, db], [d], 2,
       [(0, "b", 0), (1, "i", 2), (2, "i", 2), (3, "i", 1), (4, "b", 0)])
    mp = tensor("maxpool_out", [1, 2, 2, 3], act, **q(0.1, -5))
    op("MAX_POOL_2D", [c], [mp], 5,
       [(0, "b", 1), (1, "i", 2), (2, "i", 2), (3, "i", 2), (4, "i", 2), (5, "b", 0)])
    s = tensor("add_out", [1, 2, 2, 3], act, **q(0.2, 0))
    op("ADD", [d, mp], [s], 11, [(0, "b", 1)])
    ap = tensor("avgpool_out", [1, 1, 1, 3], act, **q(0.2, 0))
    op("AVERAGE_POOL_2D", [s], [ap], 5,
       [(0, "b", 1), (1, "i", 2), (2, "i", 2), (3, "i", 2), (4, "i", 2), (5, "b", 0)])
    shp = tensor("shape", [2], I32, struct.pack("<2i", 1, 3))
    r = tensor("reshape_out", [1, 3], act, **q(0.2, 0))
    op("RESHAPE", [ap, shp], [r])
    fw = tensor("fc_w", [4, 3], act, weights(12), **q(0.05, 0))
    fb = tensor("fc_b", [4], I32 if quant else F32, bias(4), **q(0.01, 0))
    f = tensor("fc_out", [1, 4], act, **q(0.2, 3))
    op("FULLY_CONNECTED", [r, fw, fb], [f], 8, [(0, "b", 0)])
    sm = tensor("softmax_out", [1, 4], act, **q(1.0 / 256, -128))
    op("SOFTMAX", [f], [sm], 9, [(0, "f", 1.0)])
    out = sm
    if quant:
        out = tensor("output_f32", [1, 4], F32)
        op("DEQUANTIZE", [sm], [out])
    sg = Table([(0, "ref", VecT(tensors)), (1, "ref", Vec("i", inputs)),
                (2, "ref", Vec("i", [out])), (3, "ref", VecT(ops)), (4, "ref", Str("main"))])
    opcodes = [Table([(0, "b", min(cd, 127)), (2, "i", 1), (3, "i", cd)]) for cd in codes]
    model = Table([(0, "I", 3), (1, "ref", VecT(opcodes)), (2, "ref", VecT([sg])),
                   (3, "ref", Str("frugal tiny test model")), (4, "ref", VecT(buffers))])
    return Writer().finish(model)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    os.makedirs(sys.argv[1], exist_ok=True)
    for name, quant in (("tiny_int8.tflite", True), ("tiny_float.tflite", False)):
        data = build(quant)
        with open(os.path.join(sys.argv[1], name), "wb") as f:
            f.write(data)
        print("%s: %d bytes" % (name, len(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
