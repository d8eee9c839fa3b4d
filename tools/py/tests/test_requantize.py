#!/usr/bin/python3
"""tools/py/requantize.py: a random llama GGUF re-typed to q8_0 keeps its metadata and 1-D
tensors exactly, its matrices become q8_0 within half a quantisation step of the original,
and a bad input file gives a one-line error and exit status 1."""
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import frugal_gguf  # noqa: E402
import requantize  # noqa: E402


def main():
    fails = []
    rng = np.random.default_rng(3)
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "a.gguf"), os.path.join(d, "b.gguf")
        mats = {"w.a": rng.standard_normal((5, 64)).astype(np.float32),
                "w.b": rng.standard_normal((3, 96)).astype(np.float32) * 0.01,
                "w.odd": rng.standard_normal((2, 20)).astype(np.float32)}
        norm = rng.standard_normal(64).astype(np.float32)
        md = [("general.architecture", "llama"), ("general.file_type", 0),
              ("x.ids", frugal_gguf.Value(frugal_gguf.ARRAY, [1, -2, 3], frugal_gguf.INT32))]
        tensors = [(k, v, frugal_gguf.F32) for k, v in mats.items()] + [("n", norm, frugal_gguf.F32)]
        frugal_gguf.write(src, md, tensors)
        requantize.requantize(src, dst, "q8_0")
        g = frugal_gguf.read(dst)
        if g.metadata["general.file_type"] != 7 or g.metadata["x.ids"] != [1, -2, 3]:
            fails.append("metadata changed: %r" % g.metadata)
        types = {t.name: t.type for t in g.tensors}
        want = {"w.a": frugal_gguf.Q8_0, "w.b": frugal_gguf.Q8_0, "w.odd": frugal_gguf.F32, "n": frugal_gguf.F32}
        if types != want:
            fails.append("types %r, expected %r" % (types, want))
        if not np.array_equal(np.asarray(g.tensor_array("n"), dtype=np.float32), norm):
            fails.append("the 1-D tensor changed")
        for k, v in mats.items():
            got = np.asarray(g.tensor_array(k), dtype=np.float32).reshape(v.shape)
            blocks = v.reshape(v.shape[0], -1, 32) if v.shape[1] % 32 == 0 else v[:, :, None]
            step = np.abs(blocks).max(axis=-1, keepdims=True) / 127.0 if v.shape[1] % 32 == 0 else 0
            err = np.abs(got.reshape(blocks.shape) - blocks)
            if np.any(err > step * 0.5 + 1e-3 * np.abs(blocks) + 1e-7):
                fails.append("%s: error %g above half a step" % (k, err.max()))
        bad = os.path.join(d, "bad.gguf")
        with open(bad, "wb") as fh:
            fh.write(b"GGUF\x03\x00")
        r = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "..", "requantize.py"), bad,
                            os.path.join(d, "c.gguf"), "--type", "q8_0"], capture_output=True, text=True)
        if r.returncode != 1 or "bad.gguf" not in r.stderr or r.stderr.count("\n") != 1:
            fails.append("bad input: exit %d, stderr %r" % (r.returncode, r.stderr))
    for f in fails:
        print("FAIL:", f)
    if fails:
        return 1
    print("test_requantize: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
