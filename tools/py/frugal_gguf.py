#!/usr/bin/python3
"""A small GGUF v3 reader and writer in pure Python + numpy (frugal's own).

File layout (little-endian): "GGUF", u32 version (3), u64 n_tensors, u64 n_kv; n_kv
key/value pairs (key = u64 length + UTF-8 bytes, u32 value type, value; an array is
u32 element type, u64 count, elements); n_tensors tensor infos (name, u32 n_dims,
u64 ne[n_dims], u32 type, u64 offset relative to the data section); padding to
general.alignment (32 by default); the tensor data, each tensor at an aligned offset.

Tensor types: F32 (0), F16 (1), Q4_0 (2), Q8_0 (8). Quantisation follows ggml's
reference (scalar) quantisers bit for bit, computing in float32:
  Q8_0, blocks of 32: amax = max|x|, d = amax/127, id = d ? 1/d : 0,
        q = roundf(x*id) (half away from zero); fp16 d then 32 int8.
  Q4_0, blocks of 32: m = the x with the largest |x| (first one), d = m/-8,
        id = d ? 1/d : 0, q = min(15, (int8)(x*id + 8.5f)); fp16 d then 16 bytes,
        byte j = q[j] | q[j+16] << 4.
Dequantisation: d (fp16 -> f32) * q  (q - 8 for Q4_0).

numpy arrays use shape (ne[n-1], ..., ne[0]): ne[0] is the contiguous dimension.
"""
import struct
import sys

import numpy as np

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
DEFAULT_ALIGNMENT = 32

# metadata value types
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)
_SCALAR_FMT = {UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I", INT32: "<i",
               FLOAT32: "<f", BOOL: "<?", UINT64: "<Q", INT64: "<q", FLOAT64: "<d"}
_NP_DTYPE = {UINT8: "<u1", INT8: "<i1", UINT16: "<u2", INT16: "<i2", UINT32: "<u4", INT32: "<i4",
             FLOAT32: "<f4", BOOL: "<u1", UINT64: "<u8", INT64: "<i8", FLOAT64: "<f8"}

# tensor types
F32, F16, Q4_0, Q8_0 = 0, 1, 2, 8
TYPE_NAMES = {"f32": F32, "f16": F16, "q4_0": Q4_0, "q8_0": Q8_0}
QK = 32
# (block elements, block bytes)
_BLOCK = {F32: (1, 4), F16: (1, 2), Q4_0: (QK, 2 + QK // 2), Q8_0: (QK, 2 + QK)}
# llama.cpp's general.file_type values
FILE_TYPE = {F32: 0, F16: 1, Q4_0: 2, Q8_0: 7}


class GGUFError(ValueError):
    pass


# ---------------------------------------------------------------------- quantisation
def _roundf(x):
    """C roundf on float32 values (half away from zero), exact via float64."""
    a = np.abs(x.astype(np.float64))
    return np.copysign(np.floor(a + 0.5), x.astype(np.float64))


def quantize_q8_0(x):
    """x: float32 array whose size is a multiple of 32 -> bytes (34 per block)."""
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, QK)
    amax = np.max(np.abs(x), axis=1)
    d = (amax / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        idv = np.where(d != 0, np.float32(1.0) / np.where(d != 0, d, np.float32(1)), np.float32(0))
    idv = idv.astype(np.float32)
    q = _roundf((x * idv[:, None]).astype(np.float32)).astype(np.int8)
    out = np.empty((x.shape[0], 2 + QK), dtype=np.uint8)
    out[:, 0:2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.tobytes()


def quantize_q4_0(x):
    """x: float32 array whose size is a multiple of 32 -> bytes (18 per block)."""
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, QK)
    idx = np.argmax(np.abs(x), axis=1)  # first of the largest |x|, like ggml's strict '<'
    m = x[np.arange(x.shape[0]), idx]
    # ggml starts from max = +0.0f and only replaces it on a strictly larger |x|, so an
    # all-zero block (even of -0.0) gets m = +0.0 and d = -0.0
    m = np.where(np.abs(m) > 0, m, np.float32(0.0)).astype(np.float32)
    d = (m / np.float32(-8)).astype(np.float32)
    with np.errstate(divide="ignore"):
        idv = np.where(d != 0, np.float32(1.0) / np.where(d != 0, d, np.float32(1)), np.float32(0))
    idv = idv.astype(np.float32)
    v = ((x * idv[:, None]).astype(np.float32) + np.float32(8.5)).astype(np.float32)
    q = np.minimum(15, np.trunc(v.astype(np.float64)).astype(np.int64)).astype(np.uint8)
    out = np.empty((x.shape[0], 2 + QK // 2), dtype=np.uint8)
    out[:, 0:2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:] = (q[:, :QK // 2] & 0x0F) | ((q[:, QK // 2:] & 0x0F) << 4)
    return out.tobytes()


def dequantize(raw, ttype, n):
    """raw bytes of n elements of type ttype -> float32 array of n elements."""
    if ttype == F32:
        return np.frombuffer(raw, dtype="<f4", count=n).astype(np.float32)
    if ttype == F16:
        return np.frombuffer(raw, dtype="<f2", count=n).astype(np.float32)
    if ttype == Q8_0:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 2 + QK)
        d = b[:, 0:2].copy().view("<f2").astype(np.float32)
        q = b[:, 2:].copy().view(np.int8).astype(np.float32)
        return (d * q).reshape(-1)[:n]
    if ttype == Q4_0:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 2 + QK // 2)
        d = b[:, 0:2].copy().view("<f2").astype(np.float32)
        qs = b[:, 2:]
        q = np.concatenate([(qs & 0x0F), (qs >> 4)], axis=1).astype(np.int32) - 8
        return (d * q.astype(np.float32)).reshape(-1)[:n]
    raise GGUFError("unsupported tensor type %d" % ttype)


def quantize(x, ttype):
    x = np.asarray(x)
    if ttype == F32:
        return np.ascontiguousarray(x, dtype="<f4").tobytes()
    if ttype == F16:
        return np.ascontiguousarray(x, dtype=np.float32).astype("<f2").tobytes()
    if x.size % QK:
        raise GGUFError("%d elements is not a multiple of the block size %d" % (x.size, QK))
    if ttype == Q8_0:
        return quantize_q8_0(x)
    if ttype == Q4_0:
        return quantize_q4_0(x)
    raise GGUFError("unsupported tensor type %d" % ttype)


def tensor_nbytes(ttype, n):
    be, bb = _BLOCK[ttype]
    return (n // be) * bb


# ---------------------------------------------------------------------- metadata values
class Value:
    """An explicitly typed metadata value (type: one of the value-type constants;
    for ARRAY, elem_type gives the element type)."""

    def __init__(self, vtype, value, elem_type=None):
        self.type = vtype
        self.value = value
        self.elem_type = elem_type


def _guess(v):
    if isinstance(v, Value):
        return v
    if isinstance(v, bool):
        return Value(BOOL, v)
    if isinstance(v, int):
        return Value(UINT32 if 0 <= v < 2 ** 32 else INT64, v)
    if isinstance(v, float):
        return Value(FLOAT32, v)
    if isinstance(v, str):
        return Value(STRING, v)
    if isinstance(v, (list, tuple)):
        if not v:
            return Value(ARRAY, [], INT32)
        e = _guess(v[0])
        return Value(ARRAY, list(v), e.type if e.type != UINT32 else INT32)
    raise GGUFError("cannot store metadata value of type %s" % type(v).__name__)


def _pack_str(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


def _pack_value(val):
    t = val.type
    if t == STRING:
        return _pack_str(val.value)
    if t == ARRAY:
        et = val.elem_type
        head = struct.pack("<IQ", et, len(val.value))
        if et == STRING:
            return head + b"".join(_pack_str(s) for s in val.value)
        if et == ARRAY:
            raise GGUFError("nested arrays are not supported by this writer")
        return head + np.asarray(val.value).astype(_NP_DTYPE[et]).tobytes()
    return struct.pack(_SCALAR_FMT[t], val.value)


# ---------------------------------------------------------------------- writer
def write(path, metadata, tensors, alignment=DEFAULT_ALIGNMENT):
    """metadata: list of (key, value) (value a Value or a plain python value);
    tensors: list of (name, numpy array (shape (ne[n-1]..ne[0])), tensor type)."""
    out = bytearray()
    out += GGUF_MAGIC + struct.pack("<IQQ", GGUF_VERSION, len(tensors), len(metadata))
    for k, v in metadata:
        v = _guess(v)
        out += _pack_str(k) + struct.pack("<I", v.type) + _pack_value(v)
    datas = []
    off = 0
    for name, arr, ttype in tensors:
        arr = np.asarray(arr)
        ne = list(reversed(arr.shape)) if arr.ndim else [1]
        raw = quantize(arr, ttype)
        if len(raw) != tensor_nbytes(ttype, int(np.prod(ne))):
            raise GGUFError("tensor %s: internal size mismatch" % name)
        off = (off + alignment - 1) // alignment * alignment
        out += _pack_str(name) + struct.pack("<I", len(ne))
        out += struct.pack("<%dQ" % len(ne), *ne) + struct.pack("<IQ", ttype, off)
        datas.append((off, raw))
        off += len(raw)
    pad = (-len(out)) % alignment
    out += b"\0" * pad
    base = len(out)
    for o, raw in datas:
        out += b"\0" * (base + o - len(out))
        out += raw
    with open(path, "wb") as f:
        f.write(out)


# ---------------------------------------------------------------------- reader
class TensorInfo:
    def __init__(self, name, ne, ttype, offset):
        self.name = name
        self.ne = ne
        self.type = ttype
        self.offset = offset

    @property
    def n_elements(self):
        n = 1
        for x in self.ne:
            n *= x
        return n

    @property
    def shape(self):
        return tuple(reversed(self.ne))


class GGUFFile:
    def __init__(self, path, data, version, metadata, types, tensors, data_offset, alignment):
        self.path = path
        self.data = data
        self.version = version
        self.metadata = metadata        # key -> python value (arrays as lists)
        self.metadata_types = types     # key -> (type, elem_type)
        self.tensors = tensors          # list of TensorInfo, file order
        self.data_offset = data_offset
        self.alignment = alignment
        self._by_name = {t.name: t for t in tensors}

    def tensor_raw(self, name):
        t = self._by_name[name]
        start = self.data_offset + t.offset
        return self.data[start:start + tensor_nbytes(t.type, t.n_elements)]

    def tensor_array(self, name):
        """Dequantised float32 array of shape (ne[n-1], ..., ne[0])."""
        t = self._by_name[name]
        return dequantize(self.tensor_raw(name), t.type, t.n_elements).reshape(t.shape)

    def tensor_info(self, name):
        return self._by_name[name]


class _Cursor:
    def __init__(self, path, data):
        self.path = path
        self.data = data
        self.off = 0

    def take(self, n):
        if n < 0 or self.off + n > len(self.data):
            raise GGUFError("%s: truncated at offset %d (needs %d more bytes)" % (self.path, self.off, n))
        b = self.data[self.off:self.off + n]
        self.off += n
        return b

    def unpack(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self):
        n = self.unpack("<Q")
        if n > len(self.data):
            raise GGUFError("%s: string length %d at offset %d is too large" % (self.path, n, self.off))
        return self.take(n).decode("utf-8", errors="surrogateescape")

    def value(self, vtype, depth=0):
        if vtype == STRING:
            return self.string()
        if vtype == ARRAY:
            if depth > 2:
                raise GGUFError("%s: arrays nested too deep" % self.path)
            et = self.unpack("<I")
            n = self.unpack("<Q")
            if et in _NP_DTYPE:
                size = np.dtype(_NP_DTYPE[et]).itemsize
                if n * size > len(self.data):
                    raise GGUFError("%s: array of %d elements is too large" % (self.path, n))
                a = np.frombuffer(self.take(n * size), dtype=_NP_DTYPE[et])
                if et == BOOL:
                    return [bool(x) for x in a]
                return a.tolist()
            if et in (STRING, ARRAY):
                if n > len(self.data):
                    raise GGUFError("%s: array of %d elements is too large" % (self.path, n))
                return [self.value(et, depth + 1) for _ in range(n)]
            raise GGUFError("%s: bad array element type %d" % (self.path, et))
        if vtype in _SCALAR_FMT:
            return self.unpack(_SCALAR_FMT[vtype])
        raise GGUFError("%s: bad metadata value type %d at offset %d" % (self.path, vtype, self.off))


def read(path, load_tensors=True):
    """Parses a GGUF file (v2 or v3). Tensor data stays in memory as bytes."""
    with open(path, "rb") as f:
        data = f.read()
    c = _Cursor(path, data)
    if c.take(4) != GGUF_MAGIC:
        raise GGUFError("%s: not a GGUF file (bad magic)" % path)
    version = c.unpack("<I")
    if version not in (2, 3):
        raise GGUFError("%s: unsupported GGUF version %d" % (path, version))
    n_tensors = c.unpack("<Q")
    n_kv = c.unpack("<Q")
    md, types = {}, {}
    for _ in range(n_kv):
        k = c.string()
        vt = c.unpack("<I")
        pos = c.off
        v = c.value(vt)
        md[k] = v
        et = None
        if vt == ARRAY:
            et = struct.unpack_from("<I", data, pos)[0]
        types[k] = (vt, et)
    alignment = md.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise GGUFError("%s: bad general.alignment %r" % (path, alignment))
    tensors = []
    for _ in range(n_tensors):
        name = c.string()
        nd = c.unpack("<I")
        if nd < 1 or nd > 4:
            raise GGUFError("%s: tensor %s has %d dimensions" % (path, name, nd))
        ne = [c.unpack("<Q") for _ in range(nd)]
        tt = c.unpack("<I")
        off = c.unpack("<Q")
        if tt not in _BLOCK:
            raise GGUFError("%s: tensor %s has unsupported type %d" % (path, name, tt))
        tensors.append(TensorInfo(name, ne, tt, off))
    data_offset = (c.off + alignment - 1) // alignment * alignment
    for t in tensors:
        be, _ = _BLOCK[t.type]
        if t.ne[0] % be:
            raise GGUFError("%s: tensor %s: ne[0]=%d not a multiple of the block size" % (path, t.name, t.ne[0]))
        end = data_offset + t.offset + tensor_nbytes(t.type, t.n_elements)
        if t.offset % alignment or end > len(data):
            raise GGUFError("%s: tensor %s data out of range" % (path, t.name))
    return GGUFFile(path, data, version, md, types, tensors, data_offset, alignment)


# ---------------------------------------------------------------------- llama helper
def llama_metadata(cfg, vocab, ftype, name="frugal"):
    """Metadata list for a llama model. cfg: llama_ref.Config; vocab: spm_tokenize.Vocab."""
    return [
        ("general.architecture", "llama"),
        ("general.name", name),
        ("general.file_type", Value(UINT32, FILE_TYPE[ftype])),
        ("general.alignment", Value(UINT32, DEFAULT_ALIGNMENT)),
        ("llama.context_length", Value(UINT32, cfg.ctx)),
        ("llama.embedding_length", Value(UINT32, cfg.dim)),
        ("llama.block_count", Value(UINT32, cfg.n_layers)),
        ("llama.feed_forward_length", Value(UINT32, cfg.hidden)),
        ("llama.rope.dimension_count", Value(UINT32, cfg.rope_dim)),
        ("llama.attention.head_count", Value(UINT32, cfg.n_heads)),
        ("llama.attention.head_count_kv", Value(UINT32, cfg.n_kv_heads)),
        ("llama.attention.layer_norm_rms_epsilon", Value(FLOAT32, cfg.eps)),
        ("llama.rope.freq_base", Value(FLOAT32, cfg.rope_base)),
        ("tokenizer.ggml.model", "llama"),
        ("tokenizer.ggml.tokens", Value(ARRAY, list(vocab.pieces), STRING)),
        ("tokenizer.ggml.scores", Value(ARRAY, list(vocab.scores), FLOAT32)),
        ("tokenizer.ggml.token_type", Value(ARRAY, list(vocab.types), INT32)),
        ("tokenizer.ggml.bos_token_id", Value(UINT32, vocab.bos)),
        ("tokenizer.ggml.eos_token_id", Value(UINT32, vocab.eos)),
        ("tokenizer.ggml.unknown_token_id", Value(UINT32, vocab.unk)),
        ("tokenizer.ggml.add_bos_token", Value(BOOL, True)),
        ("tokenizer.ggml.add_eos_token", Value(BOOL, False)),
    ]


def write_llama(path, cfg, named_arrays, vocab, qtype, name="frugal"):
    """named_arrays: list of (GGUF tensor name, float32 array (out, in) or (n,)).
    2-D matrices get qtype ('f32', 'f16', 'q8_0', 'q4_0'); 1-D norms stay f32."""
    tt = TYPE_NAMES[qtype] if isinstance(qtype, str) else qtype
    tensors = []
    for n, a in named_arrays:
        tensors.append((n, np.asarray(a, dtype=np.float32), tt if np.ndim(a) == 2 else F32))
    write(path, llama_metadata(cfg, vocab, tt, name), tensors)


def main():
    """frugal_gguf.py FILE: prints the metadata (arrays abbreviated) and tensor table."""
    if len(sys.argv) != 2:
        print("usage: frugal_gguf.py FILE.gguf", file=sys.stderr)
        return 2
    try:
        g = read(sys.argv[1])
    except (OSError, GGUFError) as e:
        print("frugal_gguf: %s" % e, file=sys.stderr)
        return 1
    print("version %d, %d keys, %d tensors" % (g.version, len(g.metadata), len(g.tensors)))
    for k, v in g.metadata.items():
        if isinstance(v, list):
            v = "[%d items] %r..." % (len(v), v[:5])
        print("  %s = %r" % (k, v) if not isinstance(v, str) else "  %s = %s" % (k, v))
    inv = {v: k for k, v in TYPE_NAMES.items()}
    for t in g.tensors:
        print("  %-28s %-5s ne=%s" % (t.name, inv.get(t.type, t.type), t.ne))
    return 0


if __name__ == "__main__":
    sys.exit(main())
