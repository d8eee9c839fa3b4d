#!/usr/bin/python3
"""LLM benchmark: frugal against llama.cpp on the same GGUF files, in one run.

For each model file and each thread count, the engines run alternately (frugal, llama.cpp,
frugal, llama.cpp, ...) for --passes passes; each pass is one `frugal bench` and one
`llama-bench` invocation with -r repetitions. Reported: the median over passes of each
engine's prompt (pp, one batch of --pp tokens) and generation (tg, --tg tokens one at a
time) tokens/s, for the thread count that is fastest for that engine, and the ratios.
The memory-bandwidth floor of generation is bandwidth (measured here by bench/llm/membw.c,
best of 1 and 2 threads, vectorised reads with a software prefetch) divided by the weight
bytes read per generated token (every tensor but the token embedding, of which one row is
read; the embedding counts in full when the output matrix is tied to it). The bandwidth this
VM gives swings by up to 2x within minutes, so it is reported two ways: against the best
bandwidth of all the measurements of the run (the strictest floor), and paired: in every pass
the bandwidth is measured right before and right after each engine's run, and that engine's
generation rate is divided by the floor of the higher of the two; the median over passes
of those ratios is the paired figure (for both engines).

Usage: /usr/bin/python3 bench/llm/run.py [--passes 5] [--reps 3] [--out docs/bench-llm.md]
Needs: build/release/bin/frugal, llama.cpp's llama-bench (bench/setup_peers.sh builds it from
the source bundled in the npm package node-llama-cpp), ../shared/assets/llm/stories260K.bin.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools", "py"))
import frugal_gguf  # noqa: E402

SHAPES = {  # name: (dim, layers, heads, kv heads, hidden, vocab, ctx)
    "stories15M-shape": (288, 6, 6, 6, 768, 32000, 1024),
    "stories110M-shape": (768, 12, 12, 12, 2048, 32000, 1024),
}


def sh(cmd, stderr=subprocess.PIPE, timeout=900):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), r.returncode, (r.stderr or "")[-2000:]))
    return r.stdout


def prepare_models(work, frugal):
    os.makedirs(work, exist_ok=True)
    models = []
    s260 = os.path.join(work, "stories260K-f32.gguf")
    if not os.path.exists(s260):
        assets = os.path.join(ROOT, "..", "shared", "assets", "llm")
        sh([frugal, "convert-llama2c", os.path.join(assets, "stories260K.bin"),
            os.path.join(assets, "tok512.bin"), s260, "--type", "f32"])
    models.append(("stories260K", "f32", s260))
    for name, (dim, nl, nh, nkv, hid, voc, ctx) in SHAPES.items():
        for typ in ("f32", "q8_0"):
            path = os.path.join(work, "%s-%s.gguf" % (name, typ))
            if not os.path.exists(path):
                sh(["/usr/bin/python3", os.path.join(ROOT, "tools", "py", "make_test_model.py"),
                    "--out", path, "--ref", path + ".ref", "--dim", str(dim), "--n-layers", str(nl),
                    "--n-heads", str(nh), "--n-kv-heads", str(nkv), "--hidden", str(hid),
                    "--vocab", str(voc), "--ctx", str(ctx), "--type", typ, "--tied", "0",
                    "--seed", "1", "--n-tokens", "1"])
            models.append((name, typ, path))
    return models


def bytes_per_token(path):
    g = frugal_gguf.read(path, load_tensors=False)
    total, emb, emb_rows, has_out = 0, 0, 1, False
    for t in g.tensors:
        nbytes = frugal_gguf.tensor_nbytes(t.type, t.n_elements)
        total += nbytes
        if t.name == "token_embd.weight":
            emb, emb_rows = nbytes, t.ne[1]
        if t.name == "output.weight":
            has_out = True
    if has_out:  # only one embedding row is read per token
        return total - emb + emb // max(1, emb_rows)
    return total


def run_frugal(frugal, path, pp, tg, threads, reps):
    out = sh([frugal, "bench", "-m", path, "-p", str(pp), "-n", str(tg), "-t", str(threads), "-r", str(reps)])
    res = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 7 and re.match(r"^(pp|tg)\d+$", cells[5]):
            res[cells[5][:2]] = float(cells[6])
    return res


def run_llama(llama_bench, path, pp, tg, threads, reps):
    out = sh([llama_bench, "-m", path, "-p", str(pp), "-n", str(tg), "-t", str(threads),
              "-r", str(reps), "-o", "json"], stderr=subprocess.DEVNULL)
    res = {}
    for row in json.loads(out):
        key = "pp" if row.get("n_prompt", 0) > 0 and row.get("n_gen", 0) == 0 else "tg"
        samples = row.get("samples_ts") or [row["avg_ts"]]
        res[key] = statistics.median(samples)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frugal", default=os.path.join(ROOT, "build", "release", "bin", "frugal"))
    ap.add_argument("--llama-bench", default=os.path.join(ROOT, "bench", "peers", "llama.cpp", "build", "bin", "llama-bench"))
    ap.add_argument("--work", default=os.path.join(ROOT, "build", "bench-llm"))
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--pp", type=int, default=512)
    ap.add_argument("--tg", type=int, default=128)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--only", default="", help="substring filter on model names")
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    membw = os.path.join(args.work, "membw")
    os.makedirs(args.work, exist_ok=True)
    sh(["gcc", "-O3", "-march=native", "-pthread", os.path.join(ROOT, "bench", "llm", "membw.c"), "-o", membw])
    # The bandwidth this VM gives swings by 2x between minutes (neighbours), so it is measured
    # again inside every pass, next to the engines, and the floor uses the best figure of the
    # whole run (a busy neighbour only ever lowers it: the best is the strictest floor).
    def measure_bw():
        return max(float(sh([membw, t, "1024"], stderr=subprocess.DEVNULL)) for t in ("1", "2"))
    bws = [measure_bw() for _ in range(3)]

    threads = [int(t) for t in args.threads.split(",")]
    rows = []
    for name, typ, path in prepare_models(args.work, args.frugal):
        if args.only and args.only not in name:
            continue
        res = {eng: {t: {"pp": [], "tg": [], "bw": []} for t in threads} for eng in ("frugal", "llama.cpp")}
        for p in range(args.passes):
            bw_prev = measure_bw()
            bws.append(bw_prev)
            for t in threads:  # A B A B ...: engines alternate inside every pass
                for eng, fn, exe in (("frugal", run_frugal, args.frugal), ("llama.cpp", run_llama, args.llama_bench)):
                    r = fn(exe, path, args.pp, args.tg, t, args.reps)
                    bw_next = measure_bw()
                    bws.append(bw_next)
                    for k in ("pp", "tg"):
                        res[eng][t][k].append(r[k])
                    res[eng][t]["bw"].append(max(bw_prev, bw_next))
                    bw_prev = bw_next
            print("%s %s pass %d/%d done" % (name, typ, p + 1, args.passes), file=sys.stderr)
        bpt = bytes_per_token(path)
        best, paired, per_pass = {}, {}, {}
        for eng in res:
            best[eng] = {}
            for k in ("pp", "tg"):
                med = {t: statistics.median(res[eng][t][k]) for t in threads}
                tb = max(med, key=med.get)
                best[eng][k] = (med[tb], tb)
            tb = best[eng]["tg"][1]  # paired floor ratios at the engine's fastest thread count
            per_pass[eng] = [tg * bpt / (bw * 1e9) for tg, bw in zip(res[eng][tb]["tg"], res[eng][tb]["bw"])]
            paired[eng] = statistics.median(per_pass[eng])
        rows.append((name, typ, os.path.getsize(path), best, bpt, paired, per_pass))
    bw = max(bws)

    lines = []
    lines.append("Memory read bandwidth measured: %.1f GB/s (bench/llm/membw.c at 1 and 2 threads, best of %d measurements spread over the run; range %.1f-%.1f GB/s)." % (bw, len(bws), min(bws), bw))
    lines.append("")
    lines.append("| model | type | file MiB | frugal pp%d t/s (thr) | llama.cpp pp%d t/s (thr) | pp ratio | frugal tg%d t/s (thr) | llama.cpp tg%d t/s (thr) | tg ratio | bandwidth floor t/s (strictest) | frugal tg / strictest floor | frugal tg / floor, paired | llama.cpp tg / floor, paired |"
                 % (args.pp, args.pp, args.tg, args.tg))
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, typ, size, best, bpt, paired, _ in rows:
        floor = bw * 1e9 / bpt
        f, l = best["frugal"], best["llama.cpp"]
        lines.append("| %s | %s | %.1f | %.1f (%d) | %.1f (%d) | %.2f | %.1f (%d) | %.1f (%d) | %.2f | %.1f | %.0f%% | %.0f%% | %.0f%% |" % (
            name, typ, size / 2**20, f["pp"][0], f["pp"][1], l["pp"][0], l["pp"][1], f["pp"][0] / l["pp"][0],
            f["tg"][0], f["tg"][1], l["tg"][0], l["tg"][1], f["tg"][0] / l["tg"][0], floor, 100 * f["tg"][0] / floor,
            100 * paired["frugal"], 100 * paired["llama.cpp"]))
    lines.append("")
    lines.append("Generation / paired floor in each pass (at the thread count in the table):")
    lines.append("")
    for name, typ, _, best, _, _, per_pass in rows:
        lines.append("- %s %s: frugal %s; llama.cpp %s" % (name, typ, " ".join("%.0f%%" % (100 * r) for r in per_pass["frugal"]),
                                                           " ".join("%.0f%%" % (100 * r) for r in per_pass["llama.cpp"])))
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write("Command: `/usr/bin/python3 bench/llm/run.py %s`  \nDate: %s  \nMachine: %s, %d CPUs\n\n" % (
                " ".join(sys.argv[1:]), time.strftime("%Y-%m-%d"), platform_name(), os.cpu_count()) + text)


def platform_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
