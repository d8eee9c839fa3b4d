#!/usr/bin/python3
"""Before/after comparison of two builds of frugal on target-pass cost and decode speed.

Alternates the two builds (A B A B ...: this shared machine drifts) and reports medians:
  * pass time against batch size, t(n) and t(n)/t(1), from `bench_spec --profile-verify`
    (itself a median of 15 passes per batch size) for each --model;
  * `frugal bench -p 0 -n 128` decode tokens/s for each --bench-model at each --threads.

    /usr/bin/python3 bench/kernels/ab_passes.py --a /tmp/old/build --b build/me \\
        --model models/frugal-tiny.gguf --model build/specbench/models/random-d768-l8-q8_0.gguf \\
        --bench-model build/bench-llm/stories110M-shape-q8_0.gguf --threads 1 2 --rounds 5

A and B are build directories holding bin/bench_spec and bin/frugal.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
PROMPT = os.path.join(ROOT, "bench", "spec", "prompts", "story_1.txt")


def profile(build, model, threads):
    out = subprocess.run([os.path.join(build, "bin", "bench_spec"), "-m", model, "-P", PROMPT, "--profile-verify",
                          "-n", "16", "-t", str(threads), "--passes", "0", "-o", "/dev/stdout"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("ab_passes.py: bench_spec failed on %s: %s" % (model, out.stderr[-400:]))
    t = {}
    for line in out.stdout.splitlines():
        r = json.loads(line)
        if r.get("type") == "profile" and r["model"] == "target":
            t[r["batch"]] = r["seconds"]
    return t


def decode(build, model, threads):
    out = subprocess.run([os.path.join(build, "bin", "frugal"), "bench", "-m", model, "-p", "0", "-n", "128",
                          "-t", str(threads), "-r", "3"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("ab_passes.py: frugal bench failed on %s: %s" % (model, out.stderr[-400:]))
    rows = [l for l in out.stdout.splitlines() if "tg128" in l]
    return float(rows[-1].split("|")[7])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="build directory of the old version")
    ap.add_argument("--b", required=True, help="build directory of the new version")
    ap.add_argument("--model", action="append", default=[])
    ap.add_argument("--bench-model", action="append", default=[])
    ap.add_argument("--threads", type=int, nargs="+", default=[1])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 2, 3, 4, 5, 9])
    a = ap.parse_args()
    builds = {"A": a.a, "B": a.b}
    prof = {(m, v): [] for m in a.model for v in builds}
    dec = {(m, t, v): [] for m in a.bench_model for t in a.threads for v in builds}
    for r in range(a.rounds):
        for v in ("A", "B") if r % 2 == 0 else ("B", "A"):
            for m in a.model:
                prof[(m, v)].append(profile(builds[v], m, 1))
            for m in a.bench_model:
                for t in a.threads:
                    dec[(m, t, v)].append(decode(builds[v], m, t))
        print("round %d done" % (r + 1), file=sys.stderr)
    if a.model:
        print("| model | build | t(1) ms | " + " | ".join("t(%d)/t(1)" % n for n in a.batches if n > 1) + " |")
        print("|---|---|---:|" + "---:|" * (len(a.batches) - 1))
        for m in a.model:
            for v in builds:
                med = {n: statistics.median(p[n] for p in prof[(m, v)]) for n in a.batches}
                print("| %s | %s | %.3f | %s |" % (os.path.basename(m), v, med[1] * 1e3,
                                                  " | ".join("%.2f" % (med[n] / med[1]) for n in a.batches if n > 1)))
    if a.bench_model:
        print()
        print("| model | threads | A tok/s | B tok/s | B/A |")
        print("|---|---:|---:|---:|---:|")
        for m in a.bench_model:
            for t in a.threads:
                ma, mb = statistics.median(dec[(m, t, "A")]), statistics.median(dec[(m, t, "B")])
                print("| %s | %d | %.1f | %.1f | %.2f |" % (os.path.basename(m), t, ma, mb, mb / ma))


if __name__ == "__main__":
    main()
