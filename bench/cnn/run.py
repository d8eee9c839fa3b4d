#!/usr/bin/python3
"""CNN benchmark: frugal (int8 and float) against ONNX Runtime and PyTorch (float) on the
MLPerf Tiny reference models, plus the Cortex-M build's instruction counts under QEMU.

usage: bench/cnn/run.py [--models ic,kws,vww] [--rounds R] [--block-ms MS] [--no-mcu]
                        [--out FILE.md]

Every engine runs in its own process (bench_frugal.c, bench_ort.js, bench_torch.py),
loaded once; the engines then take turns, A B C ... A B C ..., each running a block of
back-to-back batch-1 inferences per turn (about --block-ms long), so that load from
other users of the machine falls on all of them alike. The first round is warm-up and
is dropped. Latency: median (and 10th-90th percentile) over all timed inferences.
Memory: frugal's planned arena + the model file bytes (what an MCU would need), and for
every engine the peak-RSS growth of its process from just before the model was loaded
(VmHWM - VmRSS before loading, which includes runtime libraries loaded lazily). The int8
arenas are also compared with TFLM's: frugal's as planned on the Cortex-M4 build
(build/mcu/out/m4_<model>.txt) and on this host (AVX2 kernels plan more scratch).
MCU: scripts/mcu_test.sh builds the int8 firmware for Cortex-M4/M7 and counts the
instructions of one inference under QEMU (-icount); --no-mcu reuses build/mcu/report.md.
Writes a markdown report (default build/cnnbench/cnn_bench.md) and prints it.
"""
import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = "/usr/bin/python3"
ASSETS = os.environ.get("FR_ASSETS", os.path.join(ROOT, "..", "shared", "assets"))
BUILD = os.path.join(ROOT, "build", "cnnbench")
MODELS = {
    "ic": ("IC ResNet-8 (CIFAR-10, 32x32x3)", "cnn/mlperf-tiny/ic/pretrainedResnet_quant.tflite",
           "cnn/mlperf-tiny/ic/pretrainedResnet.tflite"),
    "kws": ("KWS DS-CNN (49x10 MFCC)", "cnn/mlperf-tiny/kws/kws_ref_model.tflite",
            "cnn/mlperf-tiny/kws/kws_ref_model_float32.tflite"),
    "vww": ("VWW MobileNetV1 0.25 (96x96x3)", "cnn/mlperf-tiny/vww/vww_96_int8.tflite",
            "cnn/mlperf-tiny/vww/vww_96_float.tflite"),
}
# TFLM arenas of the MLPerf Tiny reference submissions (mlcommons/tiny,
# benchmark/reference_submissions/<bench>/submitter_implemented.cpp, kTensorArenaSize):
# the arena each reference firmware reserves, not a measured minimum.
TFLM_ARENA = {
    "ic": (100 * 1024, "image_classification/submitter_implemented.cpp @ bbc1df99"),
    "kws": (200 * 1024, "keyword_spotting/submitter_implemented.cpp @ 19d14c28"),
    "vww": (200 * 1024, "person_detection/submitter_implemented.cpp @ 154f3bd3"),
}


def die(msg):
    print("run.py: " + msg, file=sys.stderr)
    sys.exit(1)


def sh(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        die("%s failed (exit %d):\n%s%s" % (" ".join(cmd), r.returncode, r.stdout[-3000:], r.stderr[-3000:]))
    return r.stdout


def build():
    os.makedirs(BUILD, exist_ok=True)
    sh(["cmake", "-S", ROOT, "-B", BUILD, "-DCMAKE_BUILD_TYPE=Release", "-DFR_TESTS=OFF"])
    sh(["cmake", "--build", BUILD, "--target", "frugal", "-j2"])
    exe = os.path.join(BUILD, "bench_frugal")
    sh(["cc", "-O2", "-std=c11", "-D_POSIX_C_SOURCE=200809L", "-I", os.path.join(ROOT, "include"),
        os.path.join(ROOT, "bench", "cnn", "bench_frugal.c"), os.path.join(BUILD, "src", "libfrugal.a"),
        "-lm", "-lpthread", "-o", exe])
    return exe


def tflite_input_nchw(path):
    sys.path.insert(0, os.path.join(ROOT, "tools", "py"))
    import tflite_inspect
    m = tflite_inspect.load(path)
    s = m["tensors"][m["inputs"][0]]["shape"]
    return [s[0], s[3], s[1], s[2]]


class Engine:
    def __init__(self, name, threads, cmd, env=None):
        self.name, self.threads = name, threads
        self.times = []
        e = dict(os.environ)
        e.update(env or {})
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=e)

    def ask(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        out = self.p.stdout.readline()
        if not out:
            die("%s exited: %s" % (self.name, self.p.stderr.read()[-2000:]))
        return out.split()

    def run(self, n):
        words = self.ask("run %d" % n)
        if words[0] != "times_us":
            die("%s: unexpected reply %s" % (self.name, words[:3]))
        return [float(w) for w in words[1:]]

    def mem(self):
        w = self.ask("mem")
        return {w[i]: int(w[i + 1]) for i in range(1, len(w) - 1, 2)}

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
            self.p.wait(timeout=30)
        except (BrokenPipeError, subprocess.TimeoutExpired):
            self.p.kill()


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))]


def bench_model(key, exe, rounds, block_ms):
    title, int8_rel, f32_rel = MODELS[key]
    int8_path, f32_path = os.path.join(ASSETS, int8_rel), os.path.join(ASSETS, f32_rel)
    onnx = os.path.join(BUILD, "onnx", key + ".onnx")
    os.makedirs(os.path.dirname(onnx), exist_ok=True)
    sh([PY, os.path.join(ROOT, "tools", "py", "tflite_to_torch.py"), f32_path, "--onnx", onnx, "--check-ort"])
    shape = ",".join(str(d) for d in tflite_input_nchw(f32_path))
    ort_js = os.path.join(ROOT, "bench", "cnn", "bench_ort.js")
    torch_py = os.path.join(ROOT, "bench", "cnn", "bench_torch.py")
    engines = [Engine("frugal int8", 1, [exe, int8_path]),
               Engine("frugal float", 1, [exe, f32_path])]
    for t in (1, 2):
        engines.append(Engine("ONNX Runtime float", t, ["node", ort_js, onnx, str(t)], {"FR_INPUT_SHAPE": shape}))
    for t in (1, 2):
        engines.append(Engine("PyTorch float", t, [PY, torch_py, f32_path, str(t)]))
    # Warm up (TorchScript's profiling executor optimises during its first runs), then
    # calibrate block sizes: reps so that one block takes about block_ms.
    reps = {}
    for e in engines:
        e.run(20)
        t = min(e.run(5))
        reps[e] = max(3, min(500, int(block_ms * 1000 / max(t, 1.0))))
    for r in range(rounds + 1):
        for e in engines:
            ts = e.run(reps[e])
            if r > 0:
                e.times.extend(ts)
    rows = []
    for e in engines:
        m = e.mem()
        rows.append(dict(engine=e.name, threads=e.threads, n=len(e.times),
                         median=statistics.median(e.times), p10=pct(e.times, 0.1), p90=pct(e.times, 0.9),
                         rss_kb=m["rss_peak_kb"] - m["rss_base_kb"],
                         planned=(m["arena_bytes"], m["model_bytes"]) if "arena_bytes" in m else None))
        e.close()
    return title, rows


def mcu_rows(run_it):
    report = os.path.join(ROOT, "build", "mcu", "report.md")
    if run_it:
        r = subprocess.run(["nice", "-n", "10", os.path.join(ROOT, "scripts", "mcu_test.sh")],
                           capture_output=True, text=True)
        if r.returncode == 77:
            return None, r.stdout.strip()
        if r.returncode != 0:
            die("scripts/mcu_test.sh failed:\n" + r.stdout[-3000:] + r.stderr[-2000:])
    if not os.path.exists(report):
        return None, "no build/mcu/report.md (run scripts/mcu_test.sh)"
    with open(report) as f:
        return f.read().strip(), None


def mcu_arena_of(key):
    """(total, persistent, activations) the Cortex-M4 firmware reported, or None."""
    path = os.path.join(ROOT, "build", "mcu", "out", "m4_%s.txt" % key)
    vals = {}
    try:
        with open(path) as f:
            for line in f:
                w = line.split()
                if len(w) == 3 and w[0] == "#" and w[1].startswith("arena_"):
                    vals[w[1]] = int(w[2])
    except OSError:
        return None
    if not all(k in vals for k in ("arena_total", "arena_persistent", "arena_activation")):
        return None
    return vals["arena_total"], vals["arena_persistent"], vals["arena_activation"]


def update_doc(path, table, command):
    """Replaces (or appends) the '## CNN' section of path; other sections are kept."""
    section = ("## CNN\n\n"
               "MLPerf Tiny reference models, batch 1. frugal runs single-threaded (the CNN runtime\n"
               "has no threads); ONNX Runtime (npm onnxruntime-node, CPU) and PyTorch (Debian\n"
               "python3-torch, TorchScript + optimize_for_inference) run the float models converted by\n"
               "tools/py/tflite_to_torch.py (its outputs equal frugal's float outputs, test cnn_torch_check,\n"
               "and ONNX Runtime's, checked by every run with --check-ort).\n"
               "Engines take turns (A B C ... A B C ...) on a shared 2-core machine; see\n"
               "bench/cnn/run.py for the method and docs/mcu.md for the Cortex-M build.\n\n"
               "Command (after `bench/cnn/setup_peers.sh`, which installs onnxruntime-node): `%s`\n\n%s"
               % (command, table))
    try:
        with open(path) as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        lines = ["# Benchmarks", ""]
    start = next((i for i, l in enumerate(lines) if l.strip() == "## CNN"), None)
    if start is None:
        while lines and lines[-1] == "":
            lines.pop()
        lines += ["", section.rstrip("\n"), ""]
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines[start:end] = section.rstrip("\n").split("\n") + [""]
    with open(path, "w") as f:
        f.write("\n".join(lines).rstrip("\n") + "\n")
    print("run.py: updated the '## CNN' section of %s" % path, file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description="frugal CNN benchmark")
    ap.add_argument("--models", default="ic,kws,vww")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--block-ms", type=float, default=100.0)
    ap.add_argument("--no-mcu", action="store_true")
    ap.add_argument("--out", default=os.path.join(BUILD, "cnn_bench.md"))
    ap.add_argument("--update-doc", metavar="FILE.md",
                    help="also replace the '## CNN' section of FILE.md (e.g. docs/benchmarks.md)")
    a = ap.parse_args()
    keys = [k for k in a.models.split(",") if k]
    for k in keys:
        if k not in MODELS:
            die("--models: unknown model '%s' (ic, kws, vww)" % k)
    if not os.path.isdir(os.path.join(ASSETS, "cnn", "mlperf-tiny")):
        die("%s/cnn/mlperf-tiny not found (shared assets)" % ASSETS)
    if not os.path.isdir(os.path.join(ROOT, "bench", "peers", "cnn", "node_modules", "onnxruntime-node")):
        die("onnxruntime-node not installed: run bench/cnn/setup_peers.sh")
    exe = build()
    mcu, mcu_note = mcu_rows(not a.no_mcu)
    load_start = os.getloadavg()[0]
    out = []
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    out.append("Machine: %s, %d logical CPUs (shared), %s; %s; load average %.1f at the start. "
               "Rounds %d, blocks of about %g ms per engine and turn." % (
                   cpu, os.cpu_count() or 0, platform.platform(),
                   time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), load_start, a.rounds, a.block_ms))
    out.append("")
    out.append("| model | engine | threads | median ms | p10-p90 ms | inferences | peak RSS growth KiB | planned arena + model bytes |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|")
    host_arena = {}
    for k in keys:
        title, rows = bench_model(k, exe, a.rounds, a.block_ms)
        for r in rows:
            planned = "-"
            if r["planned"]:
                arena, model = r["planned"]
                planned = "%d + %d = %d" % (arena, model, arena + model)
                if r["engine"] == "frugal int8":
                    host_arena[k] = arena
            out.append("| %s | %s | %d | %.3f | %.3f-%.3f | %d | %d | %s |" % (
                title, r["engine"], r["threads"], r["median"] / 1000, r["p10"] / 1000, r["p90"] / 1000,
                r["n"], r["rss_kb"], planned))
        print("run.py: %s done" % k, file=sys.stderr)
    out.append("")
    out.append("Load average %.1f at the end. Notes: (1) KWS's float file is hybrid (int8 conv weights); "
               "frugal dequantises them once at load (they count in its arena), ONNX Runtime and "
               "PyTorch get the same weights already dequantised. (2) On a 2-core machine shared "
               "with other jobs, a 2-thread engine waits at every operator for a thread the kernel "
               "has descheduled: PyTorch's OpenMP pool suffers most (tens to hundreds of ms), so "
               "its 2-thread rows measure the machine's load rather than PyTorch. (3) frugal's "
               "host arenas are larger than the Cortex-M ones: the x86 kernels plan scratch "
               "(im2col / packing) and the tables hold 64-bit pointers." % os.getloadavg()[0])
    out.append("")
    out.append("Arena of the int8 models, frugal against TFLM:")
    out.append("")
    out.append("| model | frugal arena, Cortex-M4 (persistent + activations) | frugal arena, x86-64 host | TFLM arena (reference firmware) | frugal (MCU) <= TFLM |")
    out.append("|---|---:|---:|---:|---|")
    for k in keys:
        mcu_arena = mcu_arena_of(k)
        tflm = TFLM_ARENA[k][0]
        if mcu_arena:
            total, pers, act = mcu_arena
            cell = "%d (%d + %d)" % (total, pers, act)
            ok = "yes" if total <= tflm else "NO"
        else:
            cell, ok = "?", "?"
        out.append("| %s | %s | %s | %d [^tflm-%s] | %s |" % (
            MODELS[k][0], cell, host_arena.get(k, "?"), tflm, k, ok))
    out.append("")
    for k in keys:
        out.append("[^tflm-%s]: kTensorArenaSize in mlcommons/tiny benchmark/reference_submissions/%s "
                   "(the arena the reference TFLM firmware reserves)." % (k, TFLM_ARENA[k][1]))
    out.append("")
    out.append("Cortex-M (int8 firmware under QEMU, scripts/mcu_test.sh):")
    out.append("")
    out.append(mcu if mcu else "(not measured: %s)" % mcu_note)
    text = "\n".join(out) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(text)
    print(text)
    if a.update_doc:
        update_doc(a.update_doc, text, " ".join(["bench/cnn/run.py"] + sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
