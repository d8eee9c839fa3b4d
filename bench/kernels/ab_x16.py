#!/usr/bin/python3
"""A/B of frugal builds on prompt and decode speed, with the memory bandwidth of each pass.

For each pass, model and thread count: bench/llm/membw.c at 2 threads (GB/s, right before the
pass), then `frugal bench -m MODEL -p 512 -n 128 -t T -r 3` of every build in turn, the first
build rotating from pass to pass (this shared machine drifts). Prints the median over passes
of prompt (pp512) and decode (tg128) tokens/s per build, and each build's ratio to the first.

    /usr/bin/python3 bench/kernels/ab_x16.py --build base=/tmp/pack-base/build --build x16=build/pack \\
        --model build/pack/stories110M-shape-q8_0.gguf --model build/pack/stories15M-shape-q8_0.gguf \\
        --threads 1 2 --passes 5

Each --build is NAME=DIR with DIR/bin/frugal.
"""
import argparse
import os
import re
import statistics
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))


def run(cmd):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=True).stdout


def bench(build, model, threads, pp, tg, reps):
    out = run([os.path.join(build, "bin", "frugal"), "bench", "-m", model, "-p", str(pp), "-n", str(tg),
               "-t", str(threads), "-r", str(reps)])
    res = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("|")]
        for i, c in enumerate(cells):
            if re.fullmatch(r"(pp|tg)\d+", c) and i + 1 < len(cells):
                res[c[:2]] = float(cells[i + 1])
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", action="append", required=True, help="NAME=DIR (DIR/bin/frugal)")
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--pp", type=int, default=512)
    ap.add_argument("--tg", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--membw", default=os.path.join(ROOT, "build", "pack", "membw"))
    args = ap.parse_args()
    builds = [b.split("=", 1) for b in args.build]
    if not os.path.exists(args.membw):
        run(["gcc", "-O3", "-march=native", "-pthread", os.path.join(ROOT, "bench", "llm", "membw.c"),
             "-o", args.membw])
    res = {}  # (model, threads, build) -> {"pp": [...], "tg": [...], "bw": [...]}
    for p in range(args.passes):
        order = builds[p % len(builds):] + builds[:p % len(builds)]
        for model in args.model:
            for t in args.threads:
                for name, d in order:
                    bw = float(run([args.membw, "2", "1024"]))
                    r = bench(d, model, t, args.pp, args.tg, args.reps)
                    e = res.setdefault((model, t, name), {"pp": [], "tg": [], "bw": []})
                    e["pp"].append(r.get("pp", 0.0))
                    e["tg"].append(r.get("tg", 0.0))
                    e["bw"].append(bw)
                    print("pass %d %s t=%d %s: pp %.1f tg %.1f (membw %.1f GB/s)" % (
                        p, os.path.basename(model), t, name, r.get("pp", 0.0), r.get("tg", 0.0), bw), flush=True)
    print("\n| model | threads | build | pp%d t/s | tg%d t/s | pp ratio | tg ratio | membw GB/s (median, range) |" % (
        args.pp, args.tg))
    print("|---|---|---|---|---|---|---|---|")
    for model in args.model:
        for t in args.threads:
            base = res[(model, t, builds[0][0])]
            for name, _ in builds:
                e = res[(model, t, name)]
                pp, tg = statistics.median(e["pp"]), statistics.median(e["tg"])
                print("| %s | %d | %s | %.1f | %.1f | %.3f | %.3f | %.1f (%.1f-%.1f) |" % (
                    os.path.basename(model), t, name, pp, tg, pp / statistics.median(base["pp"]),
                    tg / statistics.median(base["tg"]), statistics.median(e["bw"]), min(e["bw"]), max(e["bw"])))


if __name__ == "__main__":
    main()
