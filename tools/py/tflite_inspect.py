#!/usr/bin/python3
"""Independent TFLite FlatBuffer reader (standard library only).

Used to list the operators, tensor types and options of a .tflite file, and by
tests/cnn/test_tflite_reader.c as an independent cross-check of the C reader.

usage: tflite_inspect.py MODEL.tflite [--dump]
  default : human-readable summary (operators with options, tensor types)
  --dump  : canonical line format compared by the C test:
            T <i> <type> <shape,..> <const_data_bytes> <nscale> <scale0 %.9g> <zp0> <qdim>
            O <i> <builtin_code> <in,..> <out,..>
            I <in,..>   /  U <out,..>
"""
import struct
import sys

OPS = {0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D",
       4: "DEPTHWISE_CONV_2D", 6: "DEQUANTIZE", 9: "FULLY_CONNECTED",
       14: "LOGISTIC", 17: "MAX_POOL_2D", 18: "MUL", 19: "RELU", 21: "RELU6",
       22: "RESHAPE", 25: "SOFTMAX", 28: "TANH", 34: "PAD", 40: "MEAN",
       43: "SQUEEZE", 114: "QUANTIZE"}
TYPES = {0: "FLOAT32", 1: "FLOAT16", 2: "INT32", 3: "UINT8", 4: "INT64",
         5: "STRING", 6: "BOOL", 7: "INT16", 9: "INT8", 10: "FLOAT64"}
PADDING = {0: "SAME", 1: "VALID"}
ACT = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}


class Table:
    """A FlatBuffer table at absolute position pos in buf."""

    def __init__(self, buf, pos):
        self.buf = buf
        self.pos = pos
        soff = struct.unpack_from("<i", buf, pos)[0]
        self.vt = pos - soff
        self.vtsize = struct.unpack_from("<H", buf, self.vt)[0]

    def _off(self, field):
        o = 4 + 2 * field
        if o + 2 > self.vtsize:
            return 0
        return struct.unpack_from("<H", self.buf, self.vt + o)[0]

    def scalar(self, field, fmt, default=0):
        o = self._off(field)
        if not o:
            return default
        return struct.unpack_from("<" + fmt, self.buf, self.pos + o)[0]

    def _ref(self, field):
        o = self._off(field)
        if not o:
            return None
        p = self.pos + o
        return p + struct.unpack_from("<I", self.buf, p)[0]

    def table(self, field):
        p = self._ref(field)
        return None if p is None else Table(self.buf, p)

    def vector(self, field, fmt):
        p = self._ref(field)
        if p is None:
            return []
        n = struct.unpack_from("<I", self.buf, p)[0]
        size = struct.calcsize("<" + fmt)
        return [struct.unpack_from("<" + fmt, self.buf, p + 4 + i * size)[0] for i in range(n)]

    def vector_pos(self, field):
        """(position of first element, length) of a vector, or (None, 0)."""
        p = self._ref(field)
        if p is None:
            return None, 0
        return p + 4, struct.unpack_from("<I", self.buf, p)[0]

    def tables(self, field):
        p, n = self.vector_pos(field)
        out = []
        for i in range(n):
            e = p + 4 * i
            out.append(Table(self.buf, e + struct.unpack_from("<I", self.buf, e)[0]))
        return out

    def string(self, field):
        p = self._ref(field)
        if p is None:
            return ""
        n = struct.unpack_from("<I", self.buf, p)[0]
        return self.buf[p + 4:p + 4 + n].decode("utf-8", "replace")


def load(path):
    with open(path, "rb") as f:
        buf = f.read()
    model = Table(buf, struct.unpack_from("<I", buf, 0)[0])
    codes = []
    for oc in model.tables(1):
        dep = oc.scalar(0, "b", 0)
        new = oc.scalar(3, "i", 0)
        codes.append(max(dep, new))
    buffers = []
    for b in model.tables(4):
        p, n = b.vector_pos(0)
        off = b.scalar(1, "Q", 0)
        size = b.scalar(2, "Q", 0)
        if p is None and off > 1:
            p, n = off, size
        buffers.append((p, n))
    sg = model.tables(2)[0]
    tensors = []
    for t in sg.tables(0):
        q = t.table(4)
        scales, zps, qdim = [], [], 0
        if q is not None:
            scales = q.vector(2, "f")
            zps = q.vector(3, "q")
            qdim = q.scalar(6, "i", 0)
        tensors.append(dict(shape=t.vector(0, "i"), type=t.scalar(1, "b", 0),
                            buffer=t.scalar(2, "I", 0), name=t.string(3),
                            scales=scales, zps=zps, qdim=qdim))
    ops = []
    for op in sg.tables(3):
        code = codes[op.scalar(0, "I", 0)]
        opt_type = op.scalar(3, "B", 0)
        opts = op.table(4)
        ops.append(dict(code=code, inputs=op.vector(1, "i"), outputs=op.vector(2, "i"),
                        opt_type=opt_type, opts=opts))
    return dict(buf=buf, version=model.scalar(0, "I", 0), buffers=buffers, tensors=tensors,
                ops=ops, inputs=sg.vector(1, "i"), outputs=sg.vector(2, "i"),
                n_subgraphs=len(model.tables(2)))


def options_str(op):
    o = op["opts"]
    c = op["code"]
    if o is None:
        return ""
    if c == 3:
        return "padding=%s stride=%dx%d act=%s dilation=%dx%d" % (
            PADDING.get(o.scalar(0, "b", 0)), o.scalar(1, "i", 0), o.scalar(2, "i", 0),
            ACT.get(o.scalar(3, "b", 0)), o.scalar(4, "i", 1), o.scalar(5, "i", 1))
    if c == 4:
        return "padding=%s stride=%dx%d mult=%d act=%s dilation=%dx%d" % (
            PADDING.get(o.scalar(0, "b", 0)), o.scalar(1, "i", 0), o.scalar(2, "i", 0),
            o.scalar(3, "i", 0), ACT.get(o.scalar(4, "b", 0)), o.scalar(5, "i", 1),
            o.scalar(6, "i", 1))
    if c in (1, 17):
        return "padding=%s stride=%dx%d filter=%dx%d act=%s" % (
            PADDING.get(o.scalar(0, "b", 0)), o.scalar(1, "i", 0), o.scalar(2, "i", 0),
            o.scalar(3, "i", 0), o.scalar(4, "i", 0), ACT.get(o.scalar(5, "b", 0)))
    if c == 9:
        return "act=%s weights_format=%d keep_num_dims=%d" % (
            ACT.get(o.scalar(0, "b", 0)), o.scalar(1, "b", 0), o.scalar(2, "B", 0))
    if c == 0:
        return "act=%s" % ACT.get(o.scalar(0, "b", 0))
    if c == 25:
        return "beta=%g" % o.scalar(0, "f", 0.0)
    if c == 22:
        return "new_shape=%s" % o.vector(0, "i")
    return "(options type %d)" % op["opt_type"]


def dump(m):
    for i, t in enumerate(m["tensors"]):
        b = m["buffers"][t["buffer"]] if t["buffer"] < len(m["buffers"]) else (None, 0)
        s0 = t["scales"][0] if t["scales"] else 0.0
        z0 = t["zps"][0] if t["zps"] else 0
        print("T %d %d %s %d %d %.9g %d %d" % (
            i, t["type"], ",".join(str(d) for d in t["shape"]) or "-", b[1],
            len(t["scales"]), s0, z0, t["qdim"] if len(t["scales"]) > 1 else 0))
    for i, op in enumerate(m["ops"]):
        print("O %d %d %s %s" % (i, op["code"], ",".join(map(str, op["inputs"])) or "-",
                                 ",".join(map(str, op["outputs"])) or "-"))
    print("I %s" % ",".join(map(str, m["inputs"])))
    print("U %s" % ",".join(map(str, m["outputs"])))


def summary(path, m):
    print("%s: version %d, %d subgraph(s), %d tensors, %d operators" % (
        path, m["version"], m["n_subgraphs"], len(m["tensors"]), len(m["ops"])))
    counts = {}
    for op in m["ops"]:
        name = OPS.get(op["code"], "CODE_%d" % op["code"])
        counts[name] = counts.get(name, 0) + 1
    print("  operators: " + ", ".join("%s x%d" % kv for kv in sorted(counts.items())))
    types = sorted({TYPES.get(t["type"], str(t["type"])) for t in m["tensors"]})
    print("  tensor types: " + ", ".join(types))
    opts = sorted({(OPS.get(op["code"], str(op["code"])), options_str(op)) for op in m["ops"]})
    for name, s in opts:
        print("  %-18s %s" % (name, s))
    for kind, idx in (("input", m["inputs"]), ("output", m["outputs"])):
        for i in idx:
            t = m["tensors"][i]
            q = ""
            if t["scales"]:
                q = " scale=%.9g zp=%d" % (t["scales"][0], t["zps"][0] if t["zps"] else 0)
            print("  %s %d '%s' %s %s%s" % (kind, i, t["name"], TYPES.get(t["type"]), t["shape"], q))
    pc = [(i, len(t["scales"])) for i, t in enumerate(m["tensors"]) if len(t["scales"]) > 1]
    if pc:
        print("  per-channel quantised tensors: %d (e.g. tensor %d: %d scales, qdim %d)" % (
            len(pc), pc[0][0], pc[0][1], m["tensors"][pc[0][0]]["qdim"]))


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    paths = [a for a in sys.argv[1:] if not a.startswith("--")]
    for p in paths:
        m = load(p)
        if "--dump" in sys.argv:
            dump(m)
        else:
            summary(p, m)
    return 0


if __name__ == "__main__":
    sys.exit(main())
