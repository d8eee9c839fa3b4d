#!/usr/bin/python3
"""Plots the per-step draft length (gamma) that the adaptive controller chose, and how many
drafted tokens the target accepted, for one prompt of each kind, from bench_spec's JSON lines
(the first pass records the traces).

    /usr/bin/python3 bench/spec/plot.py bench/spec/results/raw_t1.jsonl --out docs

Writes OUT/spec-gamma-<kind>.png: the upper panel is CONFIG (default auto@d0: the bundled
draft alone), the lower one CONFIG2 (default auto@d0+d1+lookup: every source; the marker
colour says which source drafted). Needs Debian's python3-matplotlib.
"""
import argparse
import json
import os
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("plot.py: matplotlib is missing (apt-get install python3-matplotlib)")

SOURCE_COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown"]


def source_names(config):
    return config.split("@", 1)[1].split("/")[0].split("+") if "@" in config else []


def panel(ax, run, title):
    tr = run["trace"]
    steps = list(range(len(tr)))
    gam = [t[0] for t in tr]
    acc = [t[1] for t in tr]
    src = [t[2] for t in tr]
    ax.bar(steps, acc, width=1.0, color="0.80", label="accepted")
    ax.step(steps, gam, where="mid", color="black", linewidth=0.8, label="gamma (drafted)")
    names = source_names(run["config"])
    for i, name in enumerate(names):
        xs = [s for s in steps if src[s] == i]
        if xs:
            ax.scatter(xs, [gam[s] for s in xs], s=9, color=SOURCE_COLOURS[i % len(SOURCE_COLOURS)],
                       label=f"drafted by {name}", zorder=3)
    tokens = sum(a + 1 for a in acc)
    if run.get("cpu_seconds"):
        rate = f", {run['tokens'] / run['cpu_seconds']:.0f} tokens/s of CPU time"
    else:
        rate = f", {run['rate']:.0f} tokens/s" if run.get("rate") else ""
    ax.set_title(f"{title}: {len(tr)} target passes for {tokens} tokens{rate}", fontsize=9)
    ax.set_ylabel("tokens")
    ax.set_ylim(0, max(gam + [1]) + 1)
    ax.legend(fontsize=7, loc="upper right", ncol=4)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("raw", help="bench_spec JSON lines")
    ap.add_argument("--out", default="docs")
    ap.add_argument("--config", default="auto@d0")
    ap.add_argument("--config2", default="auto@d0+d1+lookup")
    a = ap.parse_args()
    runs = []
    with open(a.raw) as f:
        for line in f:
            r = json.loads(line)
            if r.get("type") == "run" and r.get("trace"):
                runs.append(r)
    if not runs:
        sys.exit(f"plot.py: {a.raw}: no traces (they are recorded on pass 0)")
    kinds = sorted({r["kind"] for r in runs})
    os.makedirs(a.out, exist_ok=True)
    for kind in kinds:
        prompt = sorted({r["prompt"] for r in runs if r["kind"] == kind})[0]
        sel = [next((r for r in runs if r["prompt"] == prompt and r["config"] == c), None) for c in (a.config, a.config2)]
        sel = [r for r in sel if r]
        if not sel:
            continue
        fig, axes = plt.subplots(len(sel), 1, figsize=(9, 2.6 * len(sel)), sharex=True, squeeze=False)
        for ax, r in zip(axes[:, 0], sel):
            panel(ax, r, f"{r['config']} on {prompt}")
        axes[-1, 0].set_xlabel("speculative step")
        fig.tight_layout()
        path = os.path.join(a.out, f"spec-gamma-{kind}.png")
        fig.savefig(path, dpi=90)
        plt.close(fig)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
