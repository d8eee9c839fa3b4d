#!/usr/bin/python3
"""Minimal TFLite FlatBuffer writer (standard library only; no flatbuffers package).

Writes schema version 3 files with one subgraph: tensors (shape, type, buffer, name,
quantisation with per-channel scales), operators with builtin options, and constant
buffers (16-byte aligned data). Enough for the CNN graphs frugal runs (docs/cnn_ops.md).

FlatBuffer facts used (flatbuffers' binary format): the file starts with the uoffset of
the root table and the 4-byte file identifier "TFL3"; a table starts with an int32 soffset
to its vtable (vtable position = table position - soffset); a vtable is u16 vtable bytes,
u16 table bytes, then one u16 per field id (offset of the field inside the table, 0 =
absent/default); a reference field holds a uoffset relative to its own position; vectors
are u32 length + elements; strings are u32 length + bytes + NUL. This writer lays objects
out front to back (a child is always written after the reference to it), so every uoffset
is positive, and vtables directly precede their table (negative soffset not needed).

TFLite schema fields written (tensorflow/lite/schema/schema.fbs):
  Model: 0 version, 1 operator_codes, 2 subgraphs, 3 description, 4 buffers
  OperatorCode: 0 deprecated_builtin_code (int8), 2 version, 3 builtin_code (int32)
  SubGraph: 0 tensors, 1 inputs, 2 outputs, 3 operators, 4 name
  Tensor: 0 shape, 1 type, 2 buffer, 3 name, 4 quantization
  QuantizationParameters: 2 scale [float], 3 zero_point [long], 6 quantized_dimension
  Operator: 0 opcode_index, 1 inputs, 2 outputs, 3 builtin_options_type, 4 builtin_options
  Buffer: 0 data [ubyte]

Usage as a library:
    b = ModelBuilder("description")
    x = b.tensor("input", [1, 32, 32, 3], INT8, scale=[1.0], zero_point=[-128])
    w = b.tensor("w", [16, 3, 3, 3], INT8, data=w_bytes, scale=[...], zero_point=[0]*16)
    y = b.tensor("y", [1, 32, 32, 16], INT8, scale=[0.1], zero_point=[-128])
    b.op("CONV_2D", [x, w, bias], [y], padding="SAME", stride=(1, 1), act="RELU")
    data = b.finish(inputs=[x], outputs=[y])

`tflite_writer.py selftest OUT.tflite` writes a small model using every supported op.
"""
import struct
import sys

FLOAT32, INT32, INT8 = 0, 2, 9
NP_TYPE = {"float32": FLOAT32, "int32": INT32, "int8": INT8}

# BuiltinOperator codes and their BuiltinOptions union type ids
OPCODE = {"ADD": 0, "AVERAGE_POOL_2D": 1, "CONV_2D": 3, "DEPTHWISE_CONV_2D": 4,
          "DEQUANTIZE": 6, "FULLY_CONNECTED": 9, "MAX_POOL_2D": 17, "RESHAPE": 22,
          "SOFTMAX": 25, "QUANTIZE": 114}
OPTIONS_TYPE = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 2, "AVERAGE_POOL_2D": 5, "MAX_POOL_2D": 5,
                "FULLY_CONNECTED": 8, "SOFTMAX": 9, "ADD": 11}
PADDING = {"SAME": 0, "VALID": 1}
ACT = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}

# field kinds: struct format of the inline value; "ref" = uoffset to a child object
_SIZE = {"b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "f": 4, "q": 8, "Q": 8, "ref": 4}


class _Table:
    def __init__(self, fields):
        self.fields = [f for f in fields if f is not None]  # (field id, kind, value)


class _Vector:
    """A vector of scalars: fmt is one struct code; data either a list or raw bytes."""

    def __init__(self, fmt, items=None, raw=None, align=4):
        self.fmt = fmt
        size = struct.calcsize("<" + fmt)
        if raw is None:
            raw = struct.pack("<%d%s" % (len(items), fmt), *items)
        if len(raw) % size:
            raise ValueError("vector data of %d bytes is not a whole number of '%s'" %
                             (len(raw), fmt))
        self.raw, self.n, self.align = bytes(raw), len(raw) // size, max(align, size, 4)


class _TableVector:
    def __init__(self, tables):
        self.tables = tables


class _String:
    def __init__(self, s):
        self.b = s.encode("utf-8")


class _Emitter:
    def __init__(self, ident):
        self.buf = bytearray(8)
        self.buf[4:8] = ident
        self.pending = []  # (position of a uoffset to patch, object to write)

    def _pad_to(self, align, ahead=0):
        """Pads so that position + ahead is a multiple of align."""
        self.buf += bytes(-(len(self.buf) + ahead) % align)

    def _table(self, t):
        layout, size = {}, 4
        # largest fields first keeps every field naturally aligned inside the table
        for fid, kind, _ in sorted(t.fields, key=lambda f: (-_SIZE[f[1]], f[0])):
            sz = _SIZE[kind]
            size += -size % sz
            layout[fid] = size
            size += sz
        has8 = any(_SIZE[k] == 8 for _, k, _ in t.fields)
        size += -size % (8 if has8 else 4)
        n_ids = max(layout) + 1 if layout else 0
        vt_bytes = 4 + 2 * n_ids
        # vtable (2-aligned), then the table (4- or 8-aligned: the table starts with the
        # soffset and 8-byte fields sit at multiples of 8 inside it)
        self._pad_to(8 if has8 else 4, vt_bytes)
        vt = len(self.buf)
        self.buf += struct.pack("<HH", vt_bytes, size)
        for fid in range(n_ids):
            self.buf += struct.pack("<H", layout.get(fid, 0))
        pos = len(self.buf)
        self.buf += bytes(size)
        struct.pack_into("<i", self.buf, pos, pos - vt)
        for fid, kind, val in t.fields:
            p = pos + layout[fid]
            if kind == "ref":
                self.pending.append((p, val))
            else:
                struct.pack_into("<" + kind, self.buf, p, val)
        return pos

    def emit(self, obj):
        """Writes obj; returns the position its references must point to."""
        if isinstance(obj, _Table):
            return self._table(obj)
        if isinstance(obj, _Vector):
            self._pad_to(obj.align, 4)  # the elements (after the u32 length) are aligned
            pos = len(self.buf)
            self.buf += struct.pack("<I", obj.n) + obj.raw
            return pos
        if isinstance(obj, _TableVector):
            self._pad_to(4)
            pos = len(self.buf)
            self.buf += struct.pack("<I", len(obj.tables))
            for t in obj.tables:
                self.pending.append((len(self.buf), t))
                self.buf += bytes(4)
            return pos
        if isinstance(obj, _String):
            self._pad_to(4)
            pos = len(self.buf)
            self.buf += struct.pack("<I", len(obj.b)) + obj.b + b"\0"
            return pos
        raise TypeError("cannot serialise %r" % (obj,))

    def finish(self, root):
        self.pending.append((0, root))
        i = 0
        while i < len(self.pending):  # breadth first: children after their parents
            patch, obj = self.pending[i]
            i += 1
            pos = self.emit(obj)
            struct.pack_into("<I", self.buf, patch, pos - patch)
        self._pad_to(16)
        if len(self.buf) >= 2 ** 31:
            raise ValueError("model of %d bytes is too large for a FlatBuffer" % len(self.buf))
        return bytes(self.buf)


def _options(name, o):
    """(options type, table) of an operator's builtin options."""
    act = ACT[o.get("act", "NONE")]
    if name == "CONV_2D":
        sh, sw = o.get("stride", (1, 1))
        dh, dw = o.get("dilation", (1, 1))
        return 1, _Table([(0, "b", PADDING[o.get("padding", "SAME")]), (1, "i", sw),
                          (2, "i", sh), (3, "b", act), (4, "i", dw), (5, "i", dh)])
    if name == "DEPTHWISE_CONV_2D":
        sh, sw = o.get("stride", (1, 1))
        dh, dw = o.get("dilation", (1, 1))
        return 2, _Table([(0, "b", PADDING[o.get("padding", "SAME")]), (1, "i", sw),
                          (2, "i", sh), (3, "i", o.get("depth_multiplier", 1)), (4, "b", act),
                          (5, "i", dw), (6, "i", dh)])
    if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        sh, sw = o.get("stride", (1, 1))
        fh, fw = o["filter"]
        return 5, _Table([(0, "b", PADDING[o.get("padding", "VALID")]), (1, "i", sw),
                          (2, "i", sh), (3, "i", fw), (4, "i", fh), (5, "b", act)])
    if name == "FULLY_CONNECTED":
        return 8, _Table([(0, "b", act), (1, "b", 0), (2, "B", 0)])
    if name == "SOFTMAX":
        return 9, _Table([(0, "f", float(o.get("beta", 1.0)))])
    if name == "ADD":
        return 11, _Table([(0, "b", act)])
    if name in ("RESHAPE", "QUANTIZE", "DEQUANTIZE"):
        return 0, None  # RESHAPE takes its shape from a constant int32 input
    raise ValueError("operator %s is not supported by the writer" % name)


class ModelBuilder:
    """Collects tensors and operators of one subgraph; finish() returns the file bytes."""

    def __init__(self, description="frugal export"):
        self.description = description
        self.tensors = []   # dicts
        self.buffers = [b""]  # buffer 0: the empty sentinel
        self.ops = []
        self.codes = []

    def tensor(self, name, shape, ttype, data=None, scale=None, zero_point=None, qdim=0):
        """Adds a tensor and returns its index. data: bytes of a constant (little-endian,
        exactly shape x element size); scale / zero_point: lists (per-channel when longer
        than 1, along dimension qdim)."""
        esize = {FLOAT32: 4, INT32: 4, INT8: 1}[ttype]
        n = 1
        for d in shape:
            n *= int(d)
        buf = 0
        if data is not None:
            data = bytes(data)
            if len(data) != n * esize:
                raise ValueError("tensor %s: %d data bytes for shape %s" % (name, len(data), shape))
            self.buffers.append(data)
            buf = len(self.buffers) - 1
        if scale is not None:
            scale = [float(s) for s in scale]
            zero_point = [int(z) for z in (zero_point if zero_point is not None else [0] * len(scale))]
            if len(zero_point) != len(scale):
                raise ValueError("tensor %s: %d scales, %d zero points" % (name, len(scale), len(zero_point)))
            if len(scale) > 1 and len(scale) != shape[qdim]:
                raise ValueError("tensor %s: %d scales for dimension %d of %s" % (name, len(scale), qdim, shape))
        self.tensors.append(dict(name=name, shape=[int(d) for d in shape], type=ttype,
                                 buffer=buf, scale=scale, zp=zero_point, qdim=qdim))
        return len(self.tensors) - 1

    def op(self, name, inputs, outputs, **options):
        """Adds an operator (name as in OPCODE) and returns its index."""
        code = OPCODE[name]
        if code not in self.codes:
            self.codes.append(code)
        for t in list(inputs) + list(outputs):
            if t != -1 and not 0 <= t < len(self.tensors):
                raise ValueError("op %s: tensor %d does not exist" % (name, t))
        otype, otable = _options(name, options)
        self.ops.append(dict(code_index=self.codes.index(code), inputs=list(inputs),
                             outputs=list(outputs), otype=otype, otable=otable))
        return len(self.ops) - 1

    def finish(self, inputs, outputs, subgraph_name="main"):
        tensors = []
        for t in self.tensors:
            f = [(0, "ref", _Vector("i", t["shape"])), (1, "b", t["type"]),
                 (2, "I", t["buffer"]), (3, "ref", _String(t["name"]))]
            if t["scale"] is not None:
                q = [(2, "ref", _Vector("f", t["scale"])),
                     (3, "ref", _Vector("q", t["zp"]))]
                if len(t["scale"]) > 1:
                    q.append((6, "i", t["qdim"]))
                f.append((4, "ref", _Table(q)))
            tensors.append(_Table(f))
        ops = []
        for o in self.ops:
            f = [(0, "I", o["code_index"]), (1, "ref", _Vector("i", o["inputs"])),
                 (2, "ref", _Vector("i", o["outputs"]))]
            if o["otable"] is not None:
                f += [(3, "B", o["otype"]), (4, "ref", o["otable"])]
            ops.append(_Table(f))
        sg = _Table([(0, "ref", _TableVector(tensors)), (1, "ref", _Vector("i", inputs)),
                     (2, "ref", _Vector("i", outputs)), (3, "ref", _TableVector(ops)),
                     (4, "ref", _String(subgraph_name))])
        codes = [_Table([(0, "b", min(c, 127)), (2, "i", 1), (3, "i", c)]) for c in self.codes]
        bufs = [_Table([] if not b else [(0, "ref", _Vector("B", raw=b, align=16))])
                for b in self.buffers]
        model = _Table([(0, "I", 3), (1, "ref", _TableVector(codes)),
                        (2, "ref", _TableVector([sg])),
                        (3, "ref", _String(self.description)), (4, "ref", _TableVector(bufs))])
        return _Emitter(b"TFL3").finish(model)


def selftest(path):
    """A small int8 model with every op the writer supports (for the round-trip tests)."""
    import random
    rnd = random.Random(5)
    b = ModelBuilder("tflite_writer selftest")

    def s8(n):
        return struct.pack("<%db" % n, *[rnd.randint(-127, 127) for _ in range(n)])

    def s32(n):
        return struct.pack("<%di" % n, *[rnd.randint(-300, 300) for _ in range(n)])

    x = b.tensor("input", [1, 6, 6, 3], INT8, scale=[1.0], zero_point=[-128])
    dw = b.tensor("dw_w", [1, 1, 1, 3], INT8, s8(3), [0.01, 0.02, 0.03], [0, 0, 0], qdim=3)
    dwb = b.tensor("dw_b", [3], INT32, s32(3), [0.01, 0.02, 0.03], [0, 0, 0])
    n = b.tensor("norm", [1, 6, 6, 3], INT8, scale=[0.05], zero_point=[3])
    b.op("DEPTHWISE_CONV_2D", [x, dw, dwb], [n], padding="SAME", stride=(1, 1))
    cw = b.tensor("conv_w", [4, 3, 3, 3], INT8, s8(108), [0.01, 0.02, 0.015, 0.03], [0] * 4)
    cb = b.tensor("conv_b", [4], INT32, s32(4), [0.0005, 0.001, 0.00075, 0.0015], [0] * 4)
    c = b.tensor("conv", [1, 6, 6, 4], INT8, scale=[0.1], zero_point=[-128])
    b.op("CONV_2D", [n, cw, cb], [c], padding="SAME", stride=(1, 1), act="RELU")
    sw = b.tensor("sc_w", [4, 1, 1, 4], INT8, s8(16), [0.01] * 4, [0] * 4)
    s = b.tensor("sc", [1, 3, 3, 4], INT8, scale=[0.1], zero_point=[-128])
    b.op("CONV_2D", [c, sw, -1], [s], padding="SAME", stride=(2, 2))
    m = b.tensor("maxpool", [1, 3, 3, 4], INT8, scale=[0.1], zero_point=[-128])
    b.op("MAX_POOL_2D", [c], [m], padding="VALID", stride=(2, 2), filter=(2, 2))
    a = b.tensor("add", [1, 3, 3, 4], INT8, scale=[0.2], zero_point=[-128])
    b.op("ADD", [m, s], [a], act="RELU")
    p = b.tensor("avgpool", [1, 1, 1, 4], INT8, scale=[0.2], zero_point=[-128])
    b.op("AVERAGE_POOL_2D", [a], [p], padding="VALID", stride=(3, 3), filter=(3, 3))
    shp = b.tensor("shape", [2], INT32, struct.pack("<2i", 1, 4))
    r = b.tensor("flat", [1, 4], INT8, scale=[0.2], zero_point=[-128])
    b.op("RESHAPE", [p, shp], [r])
    fw = b.tensor("fc_w", [10, 4], INT8, s8(40), [0.02] * 10, [0] * 10)
    fb = b.tensor("fc_b", [10], INT32, s32(10), [0.004] * 10, [0] * 10)
    f = b.tensor("logits", [1, 10], INT8, scale=[0.1], zero_point=[0])
    b.op("FULLY_CONNECTED", [r, fw, fb], [f])
    sm = b.tensor("probs", [1, 10], INT8, scale=[1.0 / 256], zero_point=[-128])
    b.op("SOFTMAX", [f], [sm], beta=1.0)
    data = b.finish([x], [sm])
    with open(path, "wb") as fh:
        fh.write(data)
    print("wrote %s: %d bytes, %d tensors, %d ops" % (path, len(data), len(b.tensors), len(b.ops)))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "selftest":
        sys.exit(selftest(sys.argv[2]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
