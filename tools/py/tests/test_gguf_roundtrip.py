#!/usr/bin/python3
"""frugal_gguf: metadata of every type and tensors of every supported type survive a
write/read round trip; quantisers give known answers on hand-made blocks; Q8_0/Q4_0 bytes
equal those of a C transcription of ggml's reference quantisers (float32 arithmetic,
roundf, int8 truncation), when a C compiler is available. Exits non-zero on failure."""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import frugal_gguf as G  # noqa: E402

FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what)


def test_roundtrip(tmp):
    rng = np.random.default_rng(5)
    md = [
        ("u8", G.Value(G.UINT8, 200)), ("i8", G.Value(G.INT8, -100)),
        ("u16", G.Value(G.UINT16, 60000)), ("i16", G.Value(G.INT16, -30000)),
        ("u32", G.Value(G.UINT32, 4000000000)), ("i32", G.Value(G.INT32, -2000000000)),
        ("f32", G.Value(G.FLOAT32, 0.5)), ("b", G.Value(G.BOOL, True)),
        ("s", "h\u00e9llo \u2581world"), ("u64", G.Value(G.UINT64, 2 ** 63 + 5)),
        ("i64", G.Value(G.INT64, -(2 ** 62))), ("f64", G.Value(G.FLOAT64, 1e-300)),
        ("arr_s", G.Value(G.ARRAY, ["a", "", "\u2581b"], G.STRING)),
        ("arr_i", G.Value(G.ARRAY, [1, -2, 3], G.INT32)),
        ("arr_f", G.Value(G.ARRAY, [0.25, -1.5], G.FLOAT32)),
        ("arr_empty", G.Value(G.ARRAY, [], G.UINT8)),
    ]
    x = rng.standard_normal((5, 64)).astype(np.float32)
    tensors = [("a", x, G.F32), ("b", x, G.F16), ("c", x, G.Q8_0), ("d", x, G.Q4_0),
               ("e", rng.standard_normal(7).astype(np.float32), G.F32),
               ("f", rng.standard_normal((2, 3, 32)).astype(np.float32), G.Q8_0)]
    p = os.path.join(tmp, "rt.gguf")
    G.write(p, md, tensors)
    g = G.read(p)
    check(g.version == 3, "version 3")
    want = {k: (v.value if isinstance(v, G.Value) else v) for k, v in md}
    for k, v in want.items():
        got = g.metadata.get(k)
        if isinstance(v, float):
            check(got is not None and abs(got - v) <= abs(v) * 1e-7, "metadata %s %r != %r" % (k, got, v))
        else:
            check(got == v, "metadata %s %r != %r" % (k, got, v))
    check(g.metadata_types["arr_s"] == (G.ARRAY, G.STRING), "array element type kept")
    check([t.name for t in g.tensors] == [t[0] for t in tensors], "tensor order")
    for t in g.tensors:
        check(t.offset % 32 == 0, "tensor %s aligned" % t.name)
    check((g.data_offset % 32) == 0, "data section aligned")
    check(np.array_equal(g.tensor_array("a"), x), "f32 exact")
    check(np.array_equal(g.tensor_array("b"), x.astype(np.float16).astype(np.float32)), "f16 exact")
    check(g.tensor_info("f").ne == [32, 3, 2], "ne order is reversed numpy shape")
    for name, tol in (("c", 1.0 / 127), ("d", 1.0 / 7)):
        y = g.tensor_array(name)
        blk = x.reshape(-1, 32)
        err = np.abs(y.reshape(-1, 32) - blk).max(axis=1)
        check(np.all(err <= np.abs(blk).max(axis=1) * tol * 0.51 + 1e-6) or name == "d",
              "%s error bound" % name)
        if name == "d":
            check(np.all(err <= np.abs(blk).max(axis=1) / 8 * 1.01 + 1e-6), "q4_0 error bound")
        # re-quantising the dequantised values gives the same bytes
        check(G.quantize(y, G.Q8_0 if name == "c" else G.Q4_0) == g.tensor_raw(name),
              "%s idempotent" % name)
    # bad files are rejected with a message naming the file
    bad = os.path.join(tmp, "bad.gguf")
    data = open(p, "rb").read()
    for cut in (3, 20, len(data) // 2, len(data) - 1):
        open(bad, "wb").write(data[:cut])
        try:
            G.read(bad)
            check(False, "truncated file (%d bytes) accepted" % cut)
        except G.GGUFError as e:
            check(bad in str(e), "error names the file")


def test_known_answers():
    # Q8_0: amax 127 -> d 1, q = roundf(x): halves away from zero
    x = np.zeros(32, np.float32)
    x[0] = 127
    x[1:6] = [0.5, -0.5, 1.5, -2.5, 2.4999998]
    b = G.quantize_q8_0(x)
    check(b[:2] == np.float16(1.0).tobytes(), "q8_0 d = 1")
    q = np.frombuffer(b[2:], np.int8)
    check(list(q[:6]) == [127, 1, -1, 2, -3, 2], "q8_0 roundf %s" % list(q[:6]))
    # all zeros: d = 0, id = 0, q = 0
    z = G.quantize_q8_0(np.zeros(32, np.float32))
    check(z == bytes(34), "q8_0 zeros")
    z = G.quantize_q4_0(-np.zeros(32, np.float32))
    check(z == np.float16(-0.0).tobytes() + bytes([0x88]) * 16, "q4_0 zeros -> d = -0, q = 8")
    # Q4_0: max |x| element is -8 (signed) -> d = 1, id = 1, q = min(15, (int8)(x + 8.5))
    x = np.zeros(32, np.float32)
    x[0] = -8
    x[16] = 7.9
    x[1] = 3.4
    x[17] = -0.6
    b = G.quantize_q4_0(x)
    check(b[:2] == np.float16(1.0).tobytes(), "q4_0 d = 1")
    qs = np.frombuffer(b[2:], np.uint8)
    check(qs[0] == (0 | (15 << 4)), "q4_0 byte 0 = %#x" % qs[0])
    check(qs[1] == (11 | (7 << 4)), "q4_0 byte 1 = %#x" % qs[1])
    # the first of two equal |x| wins (ggml's strict '<'): +8 first -> d = -1
    x = np.zeros(32, np.float32)
    x[3] = 8
    x[9] = -8
    b = G.quantize_q4_0(x)
    check(b[:2] == np.float16(-1.0).tobytes(), "q4_0 first max wins")


C_REF = r"""
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* float -> IEEE half, round to nearest even (finite inputs) */
static uint16_t h(float f) {
    uint32_t x; memcpy(&x, &f, 4);
    uint32_t s = (x >> 16) & 0x8000u; int32_t e = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t m = x & 0x7fffffu;
    if (((x >> 23) & 0xff) == 0 && m == 0) return (uint16_t)s;
    if (e >= 31) return (uint16_t)(s | 0x7c00u);
    if (e <= 0) {
        if (e < -10) return (uint16_t)s;
        m |= 0x800000u; uint32_t sh = (uint32_t)(14 - e); uint32_t r = m >> sh;
        uint32_t rem = m & ((1u << sh) - 1), half = 1u << (sh - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(s | r);
    }
    uint32_t r = ((uint32_t)e << 10) | (m >> 13); uint32_t rem = m & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1))) r++;
    return (uint16_t)(s | r);
}
int main(int argc, char **argv) {
    size_t n = (size_t)atol(argv[1]);
    float *x = malloc(n * 4); if (fread(x, 4, n, stdin) != n) return 1;
    for (size_t b = 0; b < n / 32; b++) {      /* Q8_0 */
        const float *v = x + b * 32; float amax = 0.0f;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(v[j]));
        const float d = amax / ((1 << 7) - 1); const float id = d ? 1.0f / d : 0.0f;
        uint16_t hd = h(d); fwrite(&hd, 2, 1, stdout);
        for (int j = 0; j < 32; j++) { int8_t q = (int8_t)roundf(v[j] * id); fwrite(&q, 1, 1, stdout); }
    }
    for (size_t b = 0; b < n / 32; b++) {      /* Q4_0 */
        const float *v = x + b * 32; float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < 32; j++) if (amax < fabsf(v[j])) { amax = fabsf(v[j]); max = v[j]; }
        const float d = max / -8; const float id = d ? 1.0f / d : 0.0f;
        uint16_t hd = h(d); fwrite(&hd, 2, 1, stdout);
        for (int j = 0; j < 16; j++) {
            const float x0 = v[j] * id, x1 = v[16 + j] * id;
            int8_t a = (int8_t)(x0 + 8.5f), c = (int8_t)(x1 + 8.5f);
            uint8_t q0 = (uint8_t)(a < 15 ? a : 15), q1 = (uint8_t)(c < 15 ? c : 15);
            uint8_t byte = (uint8_t)(q0 | (q1 << 4)); fwrite(&byte, 1, 1, stdout);
        }
    }
    free(x); return 0;
}
"""


def test_against_c(tmp):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        print("SKIPPED: C cross-check (no C compiler)")
        return
    src = os.path.join(tmp, "qref.c")
    exe = os.path.join(tmp, "qref")
    open(src, "w").write(C_REF)
    r = subprocess.run([cc, "-O1", "-ffp-contract=off", "-fno-fast-math", "-o", exe, src, "-lm"],
                       capture_output=True, text=True)
    if r.returncode:
        check(False, "compiling the C reference: " + r.stderr)
        return
    rng = np.random.default_rng(11)
    parts = [rng.standard_normal(32 * 300) * s for s in (1e-3, 0.05, 1.0, 300.0)]
    # ties and exact halves: values on multiples of 0.5/127 of a block max
    t = (rng.integers(-254, 255, size=32 * 200) / 2.0).astype(np.float32)
    t[::32] = 127.0
    parts.append(t)
    t2 = (rng.integers(-16, 17, size=32 * 200) / 2.0).astype(np.float32)
    t2[::32] = -8.0
    parts.append(t2)
    parts.append(np.zeros(64))
    parts.append(-np.zeros(32))
    parts.append(rng.standard_normal(32 * 50) * 1e-6)   # fp16 subnormal scales
    x = np.concatenate(parts).astype(np.float32)
    r = subprocess.run([exe, str(x.size)], input=x.tobytes(), capture_output=True)
    check(r.returncode == 0, "C reference ran")
    nb = x.size // 32
    want8, want4 = r.stdout[:nb * 34], r.stdout[nb * 34:]
    got8, got4 = G.quantize_q8_0(x), G.quantize_q4_0(x)
    check(got8 == want8, "Q8_0 bytes equal the C reference (%d blocks)" % nb)
    check(got4 == want4, "Q4_0 bytes equal the C reference (%d blocks)" % nb)
    if got8 != want8:
        a, b = np.frombuffer(got8, np.uint8), np.frombuffer(want8, np.uint8)
        i = int(np.nonzero(a != b)[0][0])
        print("  first Q8_0 difference at byte %d (block %d)" % (i, i // 34))
    if got4 != want4:
        a, b = np.frombuffer(got4, np.uint8), np.frombuffer(want4, np.uint8)
        i = int(np.nonzero(a != b)[0][0])
        print("  first Q4_0 difference at byte %d (block %d)" % (i, i // 18))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        test_roundtrip(tmp)
        test_known_answers()
        test_against_c(tmp)
    if FAILS:
        print("%d failure(s)" % len(FAILS))
        return 1
    print("test_gguf_roundtrip: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
