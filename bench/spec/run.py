#!/usr/bin/python3
"""Speculative-decoding benchmark: frugal's controllers and draft sources vs plain decoding
and llama.cpp's speculative example, on the prompt suite in bench/spec/prompts.

    /usr/bin/python3 bench/spec/run.py [--build build/NAME] [-t 1] [--passes 3] [-n 128]

What it does:
  1. finds (or compiles against BUILD/src/libfrugal.a) BUILD/bin/bench_spec; the target and
     drafts default to the bundled speculative pair (models/frugal-small.gguf, d0 =
     frugal-small-draft.gguf, d1 = frugal-small-draft-mini.gguf); with --draft2 stories260K
     it converts stories260K to GGUF (BUILD/models/stories260K-f32.gguf, the second draft of
     the frugal-tiny pair: --target models/frugal-tiny.gguf --draft models/frugal-tiny-draft.gguf);
  2. sweeps llama-speculative's settings (--spec-draft-n-max, --spec-draft-p-min) on one
     prompt of each kind and keeps the fastest;
  3. for each pass: runs bench_spec over every prompt and configuration (it rotates the
     order of the configurations, checks that every speculative run reproduces the plain
     greedy tokens and aborts otherwise), then llama-speculative with its best setting on
     every prompt, and llama-bench's plain generation rate of the target;
  4. writes OUT/raw_*.jsonl, OUT/summary.json, OUT/table.md (medians over the passes), and
     the gamma-trajectory plots docs/spec-gamma-<kind>.png (bench/spec/plot.py);
  5. with --write-docs, replaces the section "## Speculative decoding" of docs/benchmarks.md.

Rates are generated tokens per second after the prompt pass (greedy, end-of-sequence
ignored, exactly -n tokens). Per kind and overall: total tokens / total seconds of the
prompts in the group, per pass; the table shows the median over the passes.
"""
import argparse
import glob
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
ASSETS = os.path.normpath(os.path.join(ROOT, "..", "shared", "assets", "llm"))
LLAMA_BIN = os.path.join(ROOT, "bench", "peers", "llama.cpp", "build", "bin")

CONTROLLERS = ["heuristic", "fsm", "cache-fsm", "rl", "cost", "auto"]
# source sets: d0 = the first draft, d1 = the second (by default frugal-small-draft and
# frugal-small-draft-mini; with the frugal-tiny pair, its draft and stories260K)
SOURCE_SETS = ["d0", "d0+d1", "lookup", "d0+lookup", "d0+d1+lookup"]


def configs_full(gamma_max):
    fixed = [f"fixed:{g}" for g in range(1, gamma_max + 1)]
    # fixed gammas with the draft, and with the draft and prompt lookup (the source chosen
    # per step as for every controller): the baselines of auto@d0 and auto@d0+lookup
    c = ["plain"] + [f"{f}@d0" for f in fixed] + [f"{f}@d0+lookup" for f in fixed]
    for s in SOURCE_SETS:
        c += [f"{k}@{s}" for k in CONTROLLERS]
    c.insert(len(fixed) + 1 + len(CONTROLLERS), "auto@d1")
    return c


def configs_quick(gamma_max):
    return (["plain"] + [f"fixed:{g}@d0" for g in range(1, min(4, gamma_max) + 1)] +
            ["heuristic@d0", "auto@d0", "auto@d0+d1", "auto@lookup", "auto@d0+d1+lookup"])


def log(msg):
    print(time.strftime("%H:%M:%S ") + msg, file=sys.stderr, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=False, capture_output=True, text=True, errors="replace", **kw)


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_cpu(cmd):
    """Runs cmd; returns (result, CPU seconds of the child)."""
    c0 = children_cpu()
    r = run(cmd)
    return r, children_cpu() - c0


def ensure_driver(build):
    exe = os.path.join(build, "bin", "bench_spec")
    src = os.path.join(HERE, "bench_spec.c")
    lib = os.path.join(build, "src", "libfrugal.a")
    if os.path.exists(exe) and os.path.getmtime(exe) >= max(os.path.getmtime(src), os.path.getmtime(lib)):
        return exe
    if not os.path.exists(lib):
        sys.exit(f"run.py: {lib}: not found (build frugal first: cmake -S . -B {build} && cmake --build {build} -j2)")
    log(f"compiling {exe}")
    os.makedirs(os.path.dirname(exe), exist_ok=True)
    r = run(["cc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-D_POSIX_C_SOURCE=200809L",
             "-D_DEFAULT_SOURCE", "-I", os.path.join(ROOT, "include"), src, lib, "-lm", "-lpthread", "-o", exe])
    if r.returncode != 0:
        sys.exit(f"run.py: compiling bench_spec failed:\n{r.stderr}")
    return exe


def ensure_stories(build):
    out = os.path.join(build, "models", "stories260K-f32.gguf")
    if os.path.exists(out):
        return out
    os.makedirs(os.path.dirname(out), exist_ok=True)
    r = run([os.path.join(build, "bin", "frugal"), "convert-llama2c", os.path.join(ASSETS, "stories260K.bin"),
             os.path.join(ASSETS, "tok512.bin"), out, "--type", "f32"])
    if r.returncode != 0:
        sys.exit(f"run.py: converting stories260K failed: {r.stderr.strip()}")
    return out


LLAMA_DECODED = re.compile(r"decoded\s+(\d+) tokens in\s+([\d.]+) seconds, speed:\s+([\d.]+) t/s")
LLAMA_STAT = re.compile(r"\b(n_drafted|n_accept)\s*=\s*(\d+)")


def llama_spec_once(setting, target, draft, prompt_file, n, threads):
    """One llama.cpp run; setting = {"bin": llama-speculative[-simple], "n_max", "p_min"}."""
    cmd = [os.path.join(LLAMA_BIN, setting["bin"]), "-m", target, "-md", draft, "-f", prompt_file,
           "-n", str(n), "-t", str(threads), "-td", str(threads), "--temp", "0", "--ignore-eos", "-c", "512",
           "--spec-draft-n-max", str(setting["n_max"])]
    if setting["bin"] == "llama-speculative-simple":
        cmd += ["--spec-type", "draft-simple", "--spec-draft-n-min", "0", "--spec-draft-p-min", str(setting["p_min"])]
    for _ in range(3):  # its asynchronous log sometimes loses the last lines at exit: retry
        r, cpu = run_cpu(cmd)
        m = LLAMA_DECODED.search(r.stdout + r.stderr)
        if r.returncode == 0 and m and LLAMA_STAT.search(r.stdout + r.stderr):
            break
    if r.returncode != 0 or not m:
        log(f"{setting['bin']} failed ({r.returncode}): {' '.join(cmd)}\n{(r.stderr or '')[-800:]}")
        return None
    stats = dict(LLAMA_STAT.findall(r.stdout + r.stderr))
    return {"tokens": int(m.group(1)), "seconds": float(m.group(2)), "rate": float(m.group(3)), "cpu": cpu,
            "drafted": int(stats.get("n_drafted", 0)), "accepted": int(stats.get("n_accept", 0))}


def llama_spec(setting, target, draft, prompt_file, n, threads, base=None):
    """A llama.cpp speculative run: its own report (wall-clock decode time) and, as for frugal,
    the CPU time of the generation: the process's CPU time minus that of a run of the same
    setting generating 1 token (`base`, measured when not given: loading, warm-up, prompt)."""
    r = llama_spec_once(setting, target, draft, prompt_file, n, threads)
    if r is None:
        return None
    if base is None:
        base = llama_spec_once(setting, target, draft, prompt_file, 1, threads)
    if base is not None and r["cpu"] > base["cpu"]:
        r["cpu_tokens"] = r["tokens"] - base["tokens"]
        r["cpu_seconds"] = r["cpu"] - base["cpu"]
    return r


def llama_completion(target, prompt_file, n, threads):
    """Plain target generation with llama.cpp (llama-completion): its own eval rate, and the
    CPU time of the generation (minus a 1-token run)."""
    res = []
    for k in (n, 1):
        cmd = [os.path.join(LLAMA_BIN, "llama-completion"), "-m", target, "-f", prompt_file, "-n", str(k),
               "-t", str(threads), "--temp", "0", "--ignore-eos", "-c", "512", "-no-cnv"]
        for _ in range(3):  # its asynchronous log sometimes loses the last lines at exit: retry
            r, cpu = run_cpu(cmd)
            m = re.search(r"\beval time =\s+([\d.]+) ms /\s+(\d+) runs", r.stdout + r.stderr)
            if r.returncode == 0 and m:
                break
        if r.returncode != 0 or (k == n and not m):
            log(f"llama-completion failed ({r.returncode}): {' '.join(cmd)}")
            return None
        res.append((cpu, m))
    (cpu_n, m), (cpu_1, _) = res
    runs, ms = int(m.group(2)), float(m.group(1))
    out = {"tokens": runs, "seconds": ms / 1e3, "rate": runs / (ms / 1e3) if ms > 0 else 0.0}
    if cpu_n > cpu_1:
        out["cpu_tokens"] = n - 1
        out["cpu_seconds"] = cpu_n - cpu_1
    return out


def llama_label(s):
    if s["bin"] == "llama-speculative":
        return f"llama.cpp llama-speculative --spec-draft-n-max {s['n_max']}"
    return f"llama.cpp llama-speculative-simple --spec-draft-n-max {s['n_max']} --spec-draft-p-min {s['p_min']}"


LLAMA_SETTINGS = ([{"bin": "llama-speculative-simple", "n_max": g, "p_min": p}
                   for g in (1, 2, 4, 8, 16) for p in (0.0, 0.5, 0.8, 0.9)] +
                  [{"bin": "llama-speculative", "n_max": g, "p_min": 0.0} for g in (1, 2, 4, 8)])


def llama_sweep(target, draft, prompts, n, threads, metric):
    """Fastest llama.cpp speculative setting over one prompt per kind (total tokens / seconds,
    CPU or wall-clock time as `metric`), each setting run twice."""
    kinds = {}
    for p in prompts:
        kinds.setdefault(kind_of(p), p)
    bases = {p: llama_spec_once(LLAMA_SETTINGS[0], target, draft, p, 1, threads) for p in kinds.values()}
    sweep = []
    for s in LLAMA_SETTINGS:
        rates = []
        for _ in range(2):
            tok = sec = 0.0
            for p in kinds.values():
                r = llama_spec(s, target, draft, p, n, threads, base=bases[p] or {"cpu": 0.0, "tokens": 0})
                if not r:
                    break
                if metric == "cpu":
                    tok += r.get("cpu_tokens", 0)
                    sec += r.get("cpu_seconds", float("inf"))
                else:
                    tok += r["tokens"]
                    sec += r["seconds"]
            else:
                rates.append(tok / sec)
        if rates:
            sweep.append(dict(s, rate=max(rates)))
    best = max(sweep, key=lambda x: x["rate"]) if sweep else None
    return best, sweep


def kind_of(path):
    return os.path.basename(path).split("_")[0]


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def tok_sec(r, metric):
    if metric == "cpu":
        return (r.get("cpu_tokens", r["tokens"]), r["cpu_seconds"]) if "cpu_seconds" in r else None
    return r["tokens"], r["seconds"]


def aggregate(runs, llama_runs, metric):
    """{config: {"kinds": {kind: median rate}, "overall": median rate, ...}}; rates are total
    tokens / total seconds (CPU or wall-clock, as metric) of each pass, medians over passes."""
    passes = sorted({r["pass"] for r in runs})
    kinds = sorted({r["kind"] for r in runs})
    out = {}
    allruns = [("frugal", r) for r in runs] + [("llama", r) for r in llama_runs]
    configs = []
    for _, r in allruns:
        if r["config"] not in configs:
            configs.append(r["config"])
    for cfg in configs:
        rs = [r for _, r in allruns if r["config"] == cfg]
        entry = {"kinds": {}, "per_pass": {}}
        for k in kinds + ["overall"]:
            rates = []
            for p in passes:
                sel = [tok_sec(r, metric) for r in rs if r["pass"] == p and (k == "overall" or r["kind"] == k)]
                sel = [x for x in sel if x]
                if sel and sum(x[1] for x in sel) > 0:
                    rates.append(sum(x[0] for x in sel) / sum(x[1] for x in sel))
            if k == "overall":
                entry["overall"] = med(rates)
                entry["per_pass"] = rates
            else:
                entry["kinds"][k] = med(rates)
        drafted = sum(r.get("drafted", 0) for r in rs)
        accepted = sum(r.get("accepted", 0) for r in rs)
        steps = sum(r.get("steps", 0) for r in rs)
        entry["acceptance"] = accepted / drafted if drafted else None
        entry["tokens_per_step"] = sum(r.get("produced", r["tokens"]) for r in rs) / steps if steps else None
        hist = [0] * 17
        for r in rs:
            for g, c in enumerate(r.get("gamma_hist", [])):
                hist[g] += c
        entry["mean_gamma"] = sum(g * c for g, c in enumerate(hist)) / sum(hist) if sum(hist) else None
        out[cfg] = entry
    return out, kinds


def ratios(agg, kinds, label=None):
    """label: the --compare-label of the rows 'CONFIG (label)' (None: no comparison)."""
    fixed = {c: agg[c] for c in agg if c.startswith("fixed:") and c.endswith("@d0")}
    best_fixed_overall = max(fixed, key=lambda c: agg[c]["overall"]) if fixed else None
    best_fixed_kind = {k: max(fixed, key=lambda c: agg[c]["kinds"].get(k, 0)) for k in kinds} if fixed else {}

    def r(a, b):
        if a in agg and b in agg and agg[b]["overall"] > 0:
            return agg[a]["overall"] / agg[b]["overall"]
        return None

    llama = next((c for c in agg if c.startswith("llama.cpp llama-speculative")), None)
    best_auto = max((c for c in agg if c.startswith("auto@") and not c.endswith(")")),
                    key=lambda c: agg[c]["overall"], default=None)
    # the best fixed gamma with the best auto's own sources (e.g. fixed:N@d0+lookup)
    same = [c for c in agg if best_auto and c.startswith("fixed:") and not c.endswith(")")
            and c.split("@", 1)[1] == best_auto.split("@", 1)[1]]
    best_fixed_same = max(same, key=lambda c: agg[c]["overall"]) if same and best_auto != "auto@d0" else None
    res = {
        "best_fixed_overall": best_fixed_overall,
        "best_fixed_per_kind": best_fixed_kind,
        "best_auto": best_auto,
        "llama_config": llama,
        "auto_vs_best_fixed": r("auto@d0", best_fixed_overall) if best_fixed_overall else None,
        "auto_vs_heuristic": r("auto@d0", "heuristic@d0"),
        "auto_vs_llama": r("auto@d0", llama) if llama else None,
        "auto_vs_plain": r("auto@d0", "plain"),
        "best_auto_vs_best_fixed": r(best_auto, best_fixed_overall) if best_auto and best_fixed_overall else None,
        "best_auto_vs_heuristic_same_sources": r(best_auto, best_auto.replace("auto@", "heuristic@")) if best_auto else None,
        "best_fixed_same_sources": best_fixed_same,
        "best_auto_vs_best_fixed_same_sources": r(best_auto, best_fixed_same) if best_fixed_same else None,
        "best_auto_vs_llama": r(best_auto, llama) if best_auto and llama else None,
        "best_auto_vs_plain": r(best_auto, "plain") if best_auto else None,
    }
    res["compare_label"] = label
    if label and f"auto@d0 ({label})" in agg:
        cmp = f"auto@d0 ({label})"
        res["auto_vs_compare"] = r("auto@d0", cmp)
        res["compare_vs_best_fixed"] = r(cmp, best_fixed_overall) if best_fixed_overall else None
        res["compare_vs_plain"] = r(cmp, "plain")
    # per kind: auto vs the best fixed gamma of that kind (chosen in hindsight per kind)
    res["auto_vs_best_fixed_per_kind"] = {
        k: agg["auto@d0"]["kinds"][k] / agg[best_fixed_kind[k]]["kinds"][k]
        for k in kinds if "auto@d0" in agg and k in best_fixed_kind}
    return res


def fmt(x, digits=0):
    if x is None or x != x:
        return "-"
    return f"{x:.{digits}f}"


def table_md(agg, kinds, rat, meta, wall):
    lines = []
    head = ("| configuration | " + " | ".join(kinds) + " | overall | vs plain | overall, wall-clock | "
            "acceptance | tokens/pass | mean gamma |")
    lines.append(head)
    lines.append("|---|" + "---:|" * (len(kinds) + 6))
    plain = agg.get("plain", {}).get("overall")
    for cfg, e in agg.items():
        name = cfg
        if cfg == rat["best_fixed_overall"]:
            name += " (best fixed)"
        lines.append(f"| {name} | " + " | ".join(fmt(e["kinds"].get(k)) for k in kinds) +
                     f" | **{fmt(e['overall'])}** | {fmt(e['overall'] / plain if plain else None, 2)}x"
                     f" | {fmt(wall.get(cfg, {}).get('overall'))}"
                     f" | {fmt(100 * e['acceptance'] if e['acceptance'] is not None else None, 1)}%"
                     f" | {fmt(e['tokens_per_step'], 2)} | {fmt(e['mean_gamma'], 2)} |")
    return "\n".join(lines)


def ratios_md(rat, agg, kinds, ratw):
    def line(label, key, goal):
        v, w = rat.get(key), ratw.get(key)
        if v is None:
            return f"| {label} | - | - | >= {goal:.2f}x | not measured |"
        ok = v >= goal
        return f"| {label} | {v:.2f}x | {fmt(w, 2)}x | >= {goal:.2f}x | {'met' if ok else 'NOT met'} |"

    out = ["| ratio of overall tokens/s (medians) | CPU time | wall-clock | goal | |", "|---|---:|---:|---:|---|"]
    out.append(line(f"auto@d0 vs the best fixed gamma ({rat['best_fixed_overall']})", "auto_vs_best_fixed", 1.10))
    out.append(line("auto@d0 vs heuristic@d0", "auto_vs_heuristic", 1.10))
    if rat["llama_config"]:
        out.append(line(f"auto@d0 vs {rat['llama_config']}", "auto_vs_llama", 1.20))
    out.append(line("auto@d0 vs plain target decoding", "auto_vs_plain", 2.00))
    b = rat["best_auto"]
    if b and b != "auto@d0":
        out.append(line(f"{b} vs the best fixed gamma on d0", "best_auto_vs_best_fixed", 1.10))
        if rat.get("best_fixed_same_sources"):
            out.append(line(f"{b} vs the best fixed gamma with the same sources ({rat['best_fixed_same_sources']})",
                            "best_auto_vs_best_fixed_same_sources", 1.10))
        out.append(line(f"{b} vs {b.replace('auto@', 'heuristic@')}", "best_auto_vs_heuristic_same_sources", 1.10))
        if rat["llama_config"]:
            out.append(line(f"{b} vs {rat['llama_config']}", "best_auto_vs_llama", 1.20))
        out.append(line(f"{b} vs plain target decoding", "best_auto_vs_plain", 2.00))
    if "auto_vs_compare" in rat:
        lab = rat["compare_label"]
        out.append(line(f"auto@d0 vs auto@d0 ({lab})", "auto_vs_compare", 1.00))
        out.append(line(f"auto@d0 ({lab}) vs the best fixed gamma", "compare_vs_best_fixed", 1.10))
        out.append(line(f"auto@d0 ({lab}) vs plain target decoding", "compare_vs_plain", 2.00))
    out.append("")
    if not rat["best_fixed_per_kind"]:  # no fixed:N@d0 configuration in this run
        return "\n".join(out)
    out.append("Best fixed gamma per kind (hindsight, draft d0): " + ", ".join(
        f"{k} {rat['best_fixed_per_kind'][k].split('@')[0]} ({fmt(agg[rat['best_fixed_per_kind'][k]]['kinds'][k])}/s, "
        f"auto@d0 {rat['auto_vs_best_fixed_per_kind'].get(k, float('nan')):.2f}x)" for k in kinds) + ".")
    return "\n".join(out)


def profile_md(raw):
    prof = {}
    for r in raw:
        if r.get("type") == "profile":
            prof.setdefault(r["model"], {})[r["batch"]] = r["seconds"] * 1e3
    if not prof:
        return ""
    batches = [1, 2, 3, 5, 9, 17]
    out = ["| model | " + " | ".join(f"batch {b}" for b in batches) + " |", "|---|" + "---:|" * len(batches)]
    for m, d in prof.items():
        out.append(f"| {m} | " + " | ".join(f"{d.get(b, float('nan')):.3f} ms" for b in batches) + " |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "specbench"))
    ap.add_argument("--bench-exe", default=None, help="a bench_spec binary to use instead of BUILD/bin/bench_spec")
    ap.add_argument("--compare-exe", default=None,
                    help="another bench_spec (e.g. an earlier revision's controllers, bench/spec/build_baseline.sh): "
                         "the --compare-configs (default: the auto ones) are run with it in every pass too, "
                         "as 'CONFIG (LABEL)'")
    ap.add_argument("--compare-label", default="baseline")
    ap.add_argument("--compare-configs", nargs="+", default=None)
    ap.add_argument("--target", default=os.path.join(ROOT, "models", "frugal-small.gguf"))
    ap.add_argument("--draft", default=os.path.join(ROOT, "models", "frugal-small-draft.gguf"))
    ap.add_argument("--draft2", default=os.path.join(ROOT, "models", "frugal-small-draft-mini.gguf"),
                    help="second draft; 'stories260K': stories260K converted to f32 (the second "
                         "draft of the frugal-tiny pair)")
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("-t", "--threads", type=int, default=1)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--gamma-max", type=int, default=8)
    ap.add_argument("--quick", action="store_true", help="a smaller set of configurations")
    ap.add_argument("--configs", nargs="+", default=None)
    ap.add_argument("--prompts", nargs="+", default=None)
    ap.add_argument("--isa", default="auto",
                    help="frugal kernels: -1 best, 1 AVX2, ...; auto = the best one if it passes --check-batch, "
                         "else AVX2")
    ap.add_argument("--no-llama", action="store_true")
    ap.add_argument("--llama-setting", default=None, help="BIN,N_MAX,P_MIN: skip the sweep")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--tag", default=None, help="name of this run's files (default t<threads>)")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--session", action="store_true",
                    help="one speculative session per configuration and pass serves all prompts in turn "
                         "(the controller keeps its measurements from prompt to prompt, as in a server)")
    ap.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md's section")
    a = ap.parse_args()

    for f in (a.target, a.draft):
        if not os.path.exists(f):
            sys.exit(f"run.py: {f}: not found")
    exe = a.bench_exe or ensure_driver(a.build)
    draft2 = ensure_stories(a.build) if a.draft2 == "stories260K" else a.draft2
    prompts = a.prompts or sorted(glob.glob(os.path.join(HERE, "prompts", "*.txt")))
    configs = a.configs or (configs_quick(a.gamma_max) if a.quick else configs_full(a.gamma_max))
    tag = a.tag or f"t{a.threads}"
    os.makedirs(a.out, exist_ok=True)
    raw_path = os.path.join(a.out, f"raw_{tag}.jsonl")
    llama_path = os.path.join(a.out, f"llama_{tag}.jsonl")

    isa, isa_note = choose_isa(exe, a, draft2, prompts)
    meta = {"isa": isa, "isa_note": isa_note, "target": os.path.relpath(a.target, ROOT), "draft": os.path.relpath(a.draft, ROOT),
            "draft2": os.path.relpath(draft2, ROOT), "n": a.n, "threads": a.threads, "passes": a.passes,
            "gamma_max": a.gamma_max, "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "cpu": cpu_name(), "command": " ".join(["/usr/bin/python3", os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])}

    # CPU time is the primary measure with one thread: on a shared machine wall-clock time
    # includes the time other processes hold the core (the process's CPU time does not)
    metric = "cpu" if a.threads == 1 else "wall"
    llama_best, sweep = None, []
    if not a.no_llama:
        if a.llama_setting:
            b, n_max, p_min = a.llama_setting.split(",")
            llama_best = {"bin": b, "n_max": int(n_max), "p_min": float(p_min)}
        else:
            log("sweeping llama-speculative settings")
            llama_best, sweep = llama_sweep(a.target, a.draft, prompts, a.n, a.threads, metric)
            log(f"llama-speculative best: {llama_best}")
    llama_cfg = llama_label(llama_best) if llama_best else None

    raw, llama_runs = [], []
    with open(raw_path, "w") as fraw, open(llama_path, "w") as fl:
        def bench(bin_, prompt_set, confs, p, label=None, profile=False):
            """Runs one bench_spec over prompt_set x confs; appends its records (configs renamed
            'CONFIG (label)' for the comparison binary)."""
            part = os.path.join(a.out, f".part_{tag}.jsonl")
            cmd = [bin_, "-m", a.target, "-d", a.draft, "-d", draft2, "-P", *prompt_set, "-c", *confs,
                   "-n", str(a.n), "-t", str(a.threads), "--passes", "1", "--pass-offset", str(p),
                   "--gamma-max", str(a.gamma_max), "--isa", str(isa), "-o", part]
            if profile:
                cmd.append("--profile-verify")
            if a.session:
                cmd.append("--session")
            r = subprocess.run(cmd)
            if r.returncode == 3:
                sys.exit("run.py: bench_spec found a speculative run whose tokens differ from plain decoding (see above)")
            if r.returncode != 0:
                sys.exit(f"run.py: bench_spec failed ({r.returncode}): {' '.join(cmd)}")
            with open(part) as f:
                for line in f:
                    rec = json.loads(line)
                    if label and rec.get("type") == "run":
                        rec["config"] += f" ({label})"
                        rec.pop("trace", None)
                    fraw.write(json.dumps(rec) + "\n")
                    raw.append(rec)
            os.remove(part)

        pconf = (a.compare_configs or [c for c in configs if c.startswith("auto@")]) if a.compare_exe else []
        for p in range(a.passes):
            log(f"pass {p}: bench_spec ({len(configs)} configurations x {len(prompts)} prompts)")
            part = os.path.join(a.out, f".part_{tag}.jsonl")
            if not a.compare_exe:
                bench(exe, prompts, configs, p, profile=p == 0)
            else:
                # the comparison binary runs prompt by prompt, alternating with the main one (which
                # goes first on even prompts of even passes), so that both see the same load
                for i, pr in enumerate(prompts):
                    order = [(exe, configs, None), (a.compare_exe, pconf, a.compare_label)]
                    if (i + p) % 2:
                        order.reverse()
                    for bin_, confs, label in order:
                        bench(bin_, [pr], confs, p, label, profile=p == 0 and i == 0 and label is None)
            if isa != -1 and "plain" in configs:  # the plain target with the best kernels, for reference
                cmd = [exe, "-m", a.target, "-P", *prompts, "-c", "plain", "-n", str(a.n), "-t", str(a.threads),
                       "--passes", "1", "--pass-offset", str(p), "--isa", "-1", "-o", part]
                if subprocess.run(cmd).returncode != 0:
                    sys.exit(f"run.py: bench_spec failed: {' '.join(cmd)}")
                with open(part) as f:
                    for line in f:
                        r = json.loads(line)
                        if r.get("type") == "run":
                            r["config"] = "plain (best ISA)"
                        fraw.write(json.dumps(r) + "\n")
                        raw.append(r)
                os.remove(part)
            if llama_best:
                log(f"pass {p}: llama.cpp")
                for pr in prompts:
                    info = {"type": "run", "pass": p, "prompt": os.path.basename(pr)[:-4], "kind": kind_of(pr)}
                    for cfg, res in ((llama_cfg, llama_spec(llama_best, a.target, a.draft, pr, a.n, a.threads)),
                                     ("llama.cpp plain (llama-completion)", llama_completion(a.target, pr, a.n, a.threads))):
                        if res:
                            res.update(info, config=cfg)
                            fl.write(json.dumps(res) + "\n")
                            llama_runs.append(res)

    runs = [r for r in raw if r.get("type") == "run"]
    agg, kinds = aggregate(runs, llama_runs, metric)
    wall, _ = aggregate(runs, llama_runs, "wall")
    label = a.compare_label if a.compare_exe else None
    rat = ratios(agg, kinds, label)
    ratw = ratios(wall, kinds, label)
    ratw.update({k: v for k, v in ratios_same_names(wall, rat, label).items()})
    meta["metric"] = metric
    profile = {}
    for r in raw:
        if r.get("type") == "profile":
            profile.setdefault(r["model"], {})[r["batch"]] = r["seconds"]
    summary = {"meta": meta, "llama_best": llama_best, "llama_sweep": sweep, "profile": profile,
               "aggregate": agg, "aggregate_wall": wall, "ratios": rat, "ratios_wall": ratw}
    with open(os.path.join(a.out, f"summary_{tag}.json"), "w") as f:
        json.dump(summary, f, indent=1)
    md = render_md(summary, kinds, raw)
    with open(os.path.join(a.out, f"table_{tag}.md"), "w") as f:
        f.write(md + "\n")
    print(md)
    if not a.no_plot:
        r = subprocess.run([sys.executable, os.path.join(HERE, "plot.py"), raw_path, "--out", os.path.join(ROOT, "docs")])
        if r.returncode != 0:
            log("plot.py failed")
    if a.write_docs:
        write_docs(md)


def choose_isa(exe, a, draft2, prompts):
    """The kernels for the frugal runs: exact speculative verification needs the target to give
    bit-identical logits whether it decodes one token or a batch (bench_spec --check-batch)."""
    if a.isa != "auto":
        return int(a.isa), ""
    cmd = [exe, "-m", a.target, "-d", a.draft, "-d", draft2, "-P", *prompts, "--check-batch", "-n", str(a.n),
           "-t", str(a.threads), "--isa", "-1", "--gamma-max", str(a.gamma_max), "-o", os.devnull]
    r = run(cmd)
    if r.returncode == 0:
        return -1, ""
    if r.returncode != 3:
        sys.exit(f"run.py: {' '.join(cmd)} failed: {r.stderr[-500:]}")
    first = r.stderr.strip().splitlines()[0] if r.stderr.strip() else ""
    note = (f"The best kernels (AVX-512) give different logits when the target decodes a batch of up to "
            f"gamma_max + 1 = {a.gamma_max + 1} tokens than one token at a time "
            f"(bench_spec --check-batch: {r.stderr.count('differs')} model/prompt/chunk "
            f"combinations differ, e.g. `{first.replace('bench_spec: ', '')}`), so greedy speculative decoding "
            f"would not reproduce plain decoding: the frugal runs use the AVX2 kernels (--isa 1), which are "
            f"exact; `plain (best ISA)` is the target alone with the AVX-512 kernels.")
    log("check-batch failed at the best ISA: using AVX2 (--isa 1)")
    return 1, note


def ratios_same_names(wall, rat, label=None):
    """Wall-clock ratios between the configurations the primary measure chose (best fixed, best auto)."""
    def r(a, b):
        if a in wall and b in wall and wall[b]["overall"] > 0:
            return wall[a]["overall"] / wall[b]["overall"]
        return None
    b, f, llama = rat["best_auto"], rat["best_fixed_overall"], rat["llama_config"]
    return {"auto_vs_best_fixed": r("auto@d0", f) if f else None,
            "compare_vs_best_fixed": r(f"auto@d0 ({label})", f) if f and label else None,
            "best_auto_vs_best_fixed": r(b, f) if b and f else None,
            "best_auto_vs_heuristic_same_sources": r(b, b.replace("auto@", "heuristic@")) if b else None,
            "best_auto_vs_best_fixed_same_sources": (r(b, rat["best_fixed_same_sources"])
                                                     if b and rat.get("best_fixed_same_sources") else None),
            "best_auto_vs_llama": r(b, llama) if b and llama else None,
            "best_auto_vs_plain": r(b, "plain") if b else None}


def render_md(summary, kinds, raw):
    meta, agg, rat = summary["meta"], summary["aggregate"], summary["ratios"]
    wall, ratw = summary["aggregate_wall"], summary["ratios_wall"]
    what = ("CPU time of the generating process (one thread; wall-clock time on this shared machine also "
            "counts the time other processes held the core, and is shown for the overall rate)"
            if meta["metric"] == "cpu" else "wall-clock time")
    lines = [f"Run {meta['started']} on {meta['cpu']}: `{meta['command']}`; target `{meta['target']}`, "
             f"d0 = `{meta['draft']}`, d1 = `{meta['draft2']}`; {meta['n']} tokens per prompt, greedy, "
             f"{meta['threads']} thread(s) for every model (frugal and llama.cpp), gamma_max {meta['gamma_max']}, "
             f"medians over {meta['passes']} passes (configurations rotated between passes). "
             f"Generated tokens per second of {what}:", "",
             ] + ([meta["isa_note"], ""] if meta.get("isa_note") else []) + [
             table_md(agg, kinds, rat, meta, wall), "", ratios_md(rat, agg, kinds, ratw), ""]
    if summary.get("llama_best"):
        how = ("the best speculative setting over one prompt per kind (sweep below, the better of 2 runs each)"
               if summary.get("llama_sweep") else "the setting given with --llama-setting (the best of an earlier sweep)")
        lines.append(f"llama.cpp: {how}: `{llama_label(summary['llama_best'])}` "
                     f"(same thread count for target and draft, --temp 0, "
                     f"--ignore-eos, -c 512). Its wall-clock rate is its own report (`decoded N tokens in T seconds`); "
                     f"its CPU-time rate is (N - 1) / (CPU time of the run - CPU time of the same run for 1 token). "
                     f"`llama.cpp plain` is llama-completion with the target alone, measured the same way.")
        if summary.get("llama_sweep"):
            lines += ["", "| llama.cpp setting (sweep, tokens/s over one prompt per kind) | tokens/s |", "|---|---:|"]
            for s in summary["llama_sweep"]:
                lines.append(f"| {llama_label(s)[10:]} | {fmt(s['rate'])} |")
    prof = profile_md(raw)
    if prof:
        lines += ["", "Time of one forward pass over a batch of tokens (median of 15, after the first prompt):", "",
                  prof]
    return "\n".join(lines)


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip() + f" ({os.cpu_count()} CPUs)"
    except OSError:
        pass
    return "unknown CPU"


def write_docs(md):
    path = os.path.join(ROOT, "docs", "benchmarks.md")
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    section = "## Speculative decoding\n\n" + md + "\n"
    m = re.search(r"^## Speculative decoding\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
    text = text[:m.start()] + section + "\n" + text[m.end():] if m else text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)
    log(f"updated {path}")


if __name__ == "__main__":
    main()
