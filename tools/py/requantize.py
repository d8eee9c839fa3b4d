#!/usr/bin/python3
"""Re-types the weight matrices of a GGUF Llama model (metadata and 1-D tensors unchanged).

    /usr/bin/python3 tools/py/requantize.py IN.gguf OUT.gguf --type q8_0

Every 2-D tensor whose rows are a multiple of the block size becomes --type (f32, f16,
q8_0 or q4_0); the others (norms, odd shapes) keep their data as f32. general.file_type is
set to match. Used for the bundled draft (docs/training.md): a q8_0 draft takes frugal's
quantised kernels and costs a third of the f32 one per token at the same acceptance."""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import frugal_gguf  # noqa: E402

FILE_TYPE = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7}


def requantize(src, dst, type_name):
    g = frugal_gguf.read(src)
    qtype = frugal_gguf.TYPE_NAMES[type_name]
    block = 32 if type_name in ("q8_0", "q4_0") else 1
    md = []
    for k, v in g.metadata.items():
        vt, et = g.metadata_types[k]
        if k == "general.file_type":
            v = FILE_TYPE[type_name]
        md.append((k, frugal_gguf.Value(vt, v, et)))
    tensors = []
    for t in g.tensors:
        a = np.asarray(g.tensor_array(t.name), dtype=np.float32).reshape(list(reversed(t.ne)))
        ttype = qtype if a.ndim == 2 and t.ne[0] % block == 0 else frugal_gguf.F32
        tensors.append((t.name, a, ttype))
    frugal_gguf.write(dst, md, tensors, alignment=g.alignment)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--type", required=True, choices=sorted(FILE_TYPE))
    a = ap.parse_args()
    try:
        requantize(a.src, a.dst, a.type)
    except (OSError, frugal_gguf.GGUFError) as e:
        print("requantize: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
