#!/usr/bin/python3
"""TREC benchmark: MACs, host wall time, Cortex-M instructions and CIFAR-10 accuracy of
TREC convolution (int8 and float) against frugal's dense int8 and float convolution, in one
run.

usage: bench/trec/run.py [--build DIR] [--work DIR] [--L 4,8,c] [--H 4,8,12,16]
                         [--ops wide] [--calib 16] [--eval-every 1] [--eval-threads 2]
                         [--images 20]
                         [--rounds 5] [--mcu-inputs 8] [--no-mcu] [--no-export]
                         [--export-index FILE]
                         [--md FILE] [--json FILE] [--plot FILE] [--update-docs] [--smoke]

Networks: the MLPerf Tiny IC ResNet (int8, and its float twin) with post-training sidecars
(tools/py/trec_tflite.py make, pca+c) over the grid L x H ("c": L = the conv's in_c, one
filter tap; "p": pixel mode, L = in_c with one projection for all taps), one made on the int8 model and one on the float twin; plus the trained nets
listed in build/trec_models/export/index.json when that file exists (--no-export skips
them), each with its int8 sidecar and, when the index names one ("float_trec"), its float
sidecar. Per network and sidecar, for each precision (int8: the int8 model and its
sidecar; float: the float model and its own sidecar):
  - MACs: per TREC layer (mean per image over the timing images: the first --images
    records of the every-50th test subset taken class by class in turn, so --images 20 =
    two of each class; from the runtime's counters via bench_trec): dense, partial
    products, hashing; "x fewer" = dense / (partial + hashing);
  - host wall time at batch 1 (bench_trec: dense int8, TREC int8, dense float and TREC
    float take turns per image and round; medians), per layer and whole network; ratios
    compare TREC with dense of the same precision;
  - Cortex-M4 instructions under QEMU (-icount, mcu/fw_main.c with FW_PROFILE), dense and
    TREC firmware of the same int8 model on the same embedded images, per layer and whole
    network; the TREC firmware's outputs must equal the host twin's (int8 bit-exact);
  - top-1 on the CIFAR-10 evaluation subset (every --eval-every'th test record, less the
    records the IC sidecars calibrate on, index % 50 == 25: by default the other 9,800 of
    the 10,000), dense int8, dense float, TREC int8 and TREC float, with `frugal classify`
    (--eval-threads threads).
Writes a markdown table (--md, default build/trecbench/trec_bench.md), the raw figures
(--json) and the accuracy vs speed-up / MACs plot (--plot, default docs/trec_tradeoff.png).
--update-docs: puts the table between the "trec-bench" markers of docs/trec_bench.md and
of the "## TREC" section of docs/benchmarks.md (appended at its end when missing).
--smoke: one small sidecar, 2 images, no QEMU, no plot (the CTest bench_trec_smoke).
Exit: 0, 1 on a failure (one line naming the step), 77 for --smoke without the assets.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = "/usr/bin/python3"
ASSETS = os.environ.get("FR_ASSETS", os.path.join(ROOT, "..", "shared", "assets"))
IC = "cnn/mlperf-tiny/ic/pretrainedResnet_quant.tflite"
IC_F = "cnn/mlperf-tiny/ic/pretrainedResnet.tflite"
CIFAR = "cnn/cifar10/test_batch.bin"
EXPORT_INDEX = os.path.join(ROOT, "build", "trec_models", "export", "index.json")


def die(msg):
    print("run.py: " + msg, file=sys.stderr)
    sys.exit(1)


def sh(cmd, quiet=False, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        die("%s failed (exit %d):\n%s%s" % (" ".join(cmd), r.returncode, r.stdout[-3000:],
                                             r.stderr[-3000:]))
    return r.stdout


def classify(a, model, cifar, trec=None):
    cmd = [os.path.join(a.build, "bin", "frugal"), "classify", "-m", model, "--cifar10", cifar,
           "-t", str(a.eval_threads)]
    if trec:
        cmd += ["--reuse", "trec", "--trec", trec]
    out = sh(cmd)
    m = re.search(r"^accuracy: ([0-9.]+) \((\d+)/(\d+)\)", out, re.M)
    if not m:
        die("no accuracy line from %s" % " ".join(cmd))
    return float(m.group(1))


def interleave_classes(path):
    """Reorders a CIFAR-10 binary file in place, class by class in turn (0, 1, ..., 9, 0,
    1, ...): the test batch in the assets is sorted by class (1000 airplanes first), so the
    first N records of its every-50th subset, which bench_trec times, would all be of
    class 0 (they were, until this reordering: 20 airplanes, fewer clusters than average)."""
    with open(path, "rb") as f:
        data = f.read()
    rec, by = 3073, {}
    n = len(data) // rec
    for i in range(n):
        r = data[i * rec:(i + 1) * rec]
        by.setdefault(r[0], []).append(r)
    out, k = [], 0
    while len(out) < n:
        for c in sorted(by):
            if k < len(by[c]):
                out.append(by[c][k])
        k += 1
    with open(path, "wb") as f:
        f.write(b"".join(out))


def bench_host(a, model, fmodel, trec, ftrec, cifar, images, rounds):
    cmd = [os.path.join(a.build, "bin", "bench_trec"), "--model", model, "--trec", trec,
           "--cifar", cifar, "--images", str(images), "--rounds", str(rounds)]
    if fmodel:
        cmd += ["--float", fmodel]
        if ftrec:
            cmd += ["--trec-float", ftrec]
    return json.loads(sh(cmd))


# ---- Cortex-M ---------------------------------------------------------------------------

def fw_name(s):
    return re.sub(r"[^A-Za-z0-9_]", "_", s)


def mcu_build(a, fws, inputs):
    """fws: {name: (model path, sidecar or None)}. Builds Cortex-M4 firmware and host twins
    with FW_PROFILE, runs them; returns {name: parsed firmware output}."""
    if not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")):
        print("run.py: no arm-none-eabi-gcc / qemu-system-arm: Cortex-M columns skipped")
        return None
    defs = ["-DFW_MODELS=" + ";".join(fws), "-DFW_PROFILE=ON", "-DFW_INPUTS=%d" % inputs,
            "-DFR_ASSETS=" + os.path.abspath(ASSETS)]
    for n, (mp, tp) in fws.items():
        defs += ["-DFW_MODEL_PATH_%s=%s" % (n, mp), "-DFW_CIFAR_%s=1" % n]
        if tp:
            defs.append("-DFW_TREC_%s=%s" % (n, tp))
    res = {}
    for kind in ("m4", "host"):
        bdir = os.path.join(a.work, "mcu_" + kind)
        extra = []
        if kind == "m4":
            # the QEMU board's whole 4 MB of code memory, so that models larger than an
            # STM32F746's 1 MB flash (CifarNet) still get instruction counts
            extra = ["-DCMAKE_TOOLCHAIN_FILE=" + os.path.join(ROOT, "mcu", "arm-none-eabi.cmake"),
                     "-DFW_CPU=cortex-m4", "-DFW_BOARD=mps2_4m"]
        sh(["cmake", "-S", os.path.join(ROOT, "mcu"), "-B", bdir, "-DCMAKE_BUILD_TYPE=Release"] +
           extra + defs)
        # keep going: a model larger than the 1 MB flash (e.g. CifarNet) fails to link
        r = subprocess.run(["nice", "-n", "10", "cmake", "--build", bdir, "-j2", "--", "-k"],
                           capture_output=True, text=True)
        with open(os.path.join(a.work, "mcu_%s_build.log" % kind), "w") as f:
            f.write(r.stdout + r.stderr)
        for n in fws:
            exe = os.path.join(bdir, "fw_%s%s" % (n, ".elf" if kind == "m4" else ""))
            if not os.path.exists(exe):
                print("run.py: %s (%s) did not build (larger than the 1 MB flash?), see %s" %
                      (n, kind, os.path.join(a.work, "mcu_%s_build.log" % kind)))
                res.setdefault(n, {})[kind] = None
                continue
            if kind == "m4":
                cmd = ["timeout", "600", "qemu-system-arm", "-machine", "mps2-an386", "-icount",
                       "shift=0", "-semihosting-config", "enable=on,target=native", "-nographic",
                       "-monitor", "none", "-serial", "none", "-kernel",
                       os.path.join(bdir, "fw_%s.elf" % n)]
            else:
                cmd = [os.path.join(bdir, "fw_" + n)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0 and "arena too small" not in r.stdout + r.stderr:
                die("%s failed (exit %d):\n%s%s" % (" ".join(cmd), r.returncode, r.stdout[-2000:],
                                                    r.stderr[-2000:]))
            # semihosting output reaches QEMU's stderr when stdout is not a terminal
            res.setdefault(n, {})[kind] = r.stdout + r.stderr if r.returncode == 0 else None
            with open(os.path.join(a.work, "fw_%s_%s.txt" % (n, kind)), "w") as f:
                f.write(r.stdout + r.stderr)
    out = {}
    for n, r in res.items():
        txt = r["m4"]
        if txt is None:   # H = 16 (the 2^16-entry bucket table alone is 256 KB) or flash
            print("run.py: %s does not fit the firmware (flash or 256 KB arena)" % n)
            continue
        lines = lambda t: [ln for ln in t.splitlines() if not ln.startswith("#")]
        def val(k, txt=txt, n=n):
            m = re.search(r"^# %s (\d+)\r?$" % k, txt, re.M)
            if not m:
                die("firmware %s printed no '# %s' line (see %s)" % (n, k, a.work))
            return int(m.group(1))
        scale = val("calib_instructions") / val("calib_ticks")
        ops = {}
        for m in re.finditer(r"^# op (\d+) (\S+) macs (\d+) ticks (\d+)\r?$", txt, re.M):
            ops[int(m.group(1))] = int(m.group(4)) * scale / val("inputs")
        out[n] = {"insns": val("invoke_ticks_mean") * scale, "op_insns": ops,
                  "bitexact": r["host"] is not None and lines(txt) == lines(r["host"]),
                  "outputs": len(lines(txt)) - 2}
    return out


# ---- networks and sidecars ----------------------------------------------------------------

def ic_configs(a):
    cfgs = []
    for L in a.L.split(","):
        for H in a.H.split(","):
            cfgs.append(("L%s_H%s" % (L, H), L, int(H)))
    return cfgs


def make_sidecar(a, model, out, L, H, ops):
    """L: a number, "c" (L = in_c, one filter tap per sub-vector) or "p" (pixel mode: L =
    in_c and one projection for all taps, every input pixel hashed once)."""
    sh(["nice", "-n", "15", PY, os.path.join(ROOT, "tools", "py", "trec_tflite.py"), "make",
        model, out, "--cifar", os.path.join(ASSETS, CIFAR), "--L", "0" if L in "cp" else L,
        "--H", str(H), "--calib", str(a.calib), "--ops", ops] + (["--pixel"] if L == "p" else []))


def export_nets(index_path):
    """Trained nets from build/trec_models/export/index.json (tools/py/export_cifar.py
    index: one entry per exported model, with int8_tflite, float_tflite, trec (its int8
    sidecar, null for a dense model), float_trec (the float model's sidecar), net, tag, L,
    H). Grouped by net: the dense entries give the baseline accuracy, every entry with a
    sidecar is one run.
    Returns [(name, base int8, base float, [(cfg, int8, float, sidecar, float sidecar)])]
    (float model and float sidecar None where missing)."""
    if not os.path.exists(index_path):
        return []
    base = os.path.dirname(index_path)
    ok = lambda f: f if f and os.path.exists(f if os.path.isabs(f) else os.path.join(base, f)) else None
    absp = lambda f: None if not ok(f) else (f if os.path.isabs(f) else os.path.join(base, f))
    try:
        items = json.load(open(index_path))
    except (OSError, ValueError) as e:
        print("run.py: %s unreadable (%s): trained nets skipped" % (index_path, e))
        return []
    if not isinstance(items, list):
        return []
    groups = {}
    for it in items:
        if not isinstance(it, dict) or not absp(it.get("int8_tflite")):
            continue
        g = groups.setdefault(it.get("net") or "net", {"dense": None, "runs": []})
        if absp(it.get("trec")):
            cfg = it.get("tag") or os.path.basename(it["trec"])
            fm = absp(it.get("float_tflite"))
            # export_cifar.py names it MODEL_float.tflite.trec beside the float model
            ft = absp(it.get("float_trec")) or (fm and absp(fm + ".trec"))
            g["runs"].append((cfg, absp(it["int8_tflite"]), fm, absp(it["trec"]),
                              ft if fm else None))
        elif g["dense"] is None:
            g["dense"] = it
    nets = []
    for name, g in groups.items():
        if not g["runs"]:
            continue
        d = g["dense"]
        bm = absp(d["int8_tflite"]) if d else g["runs"][0][1]
        bf = absp(d.get("float_tflite")) if d else g["runs"][0][2]
        label = "%s (exported by tools/py/export_cifar.py; dense baseline: %s)" % (
            name, "the dense export of that net" if d else "the same weights run dense")
        nets.append((label, bm, bf, g["runs"]))
    return nets


# ---- report -------------------------------------------------------------------------------

def mac_totals(ops, key):
    """(dense, partial + hashing, partial) MACs over the ops with a `key` TREC object."""
    dense = sum(o[key]["macs_dense"] for o in ops)
    done = sum(o[key]["macs_reuse"] + o[key]["macs_hash"] for o in ops)
    part = sum(o[key]["macs_reuse"] for o in ops)
    return dense, done, part


def summarise(run, mcu_dense, mcu_trec):
    """Totals over the TREC layers of one (network, sidecar) run: int8 figures (TREC int8
    against dense int8), float ones (suffix _f32: TREC float against dense float) when the
    run has a float sidecar, and the cross-precision host ratio TREC int8 vs dense float."""
    all_ops = run["host"]["ops"]
    ops = [o for o in all_ops if "trec" in o]
    s = {"layers": [o["op"] for o in ops]}
    dense, done, part = mac_totals(ops, "trec")
    net_macs = sum(o["macs"] for o in all_ops)
    s["mac_x"] = dense / done if done else 0.0
    s["removed_net"] = (dense - done) / dense if dense else 0.0
    s["removed_part"] = (dense - part) / dense if dense else 0.0
    s["net_mac_x"] = net_macs / (net_macs - dense + done) if net_macs else 0.0
    t_d = sum(o["dense_s8_ms"] for o in ops)
    t_t = sum(o["trec_s8_ms"] for o in ops)
    t_f = sum(o.get("dense_f32_ms", 0.0) for o in ops)
    s["host_layer_x_s8"] = t_d / t_t if t_t else 0.0
    s["host_layer_x_s8_vs_dense_f32"] = t_f / t_t if t_t and t_f else 0.0
    w = run["host"]["whole_ms"]
    s["host_whole_x"] = w["dense_s8"] / w["trec_s8"]
    s["host_whole_x_s8_vs_dense_f32"] = w["dense_f32"] / w["trec_s8"] if "dense_f32" in w else 0.0
    fops = [o for o in all_ops if "trec_f32" in o]
    if fops and "trec_f32" in w:
        s["layers_f32"] = [o["op"] for o in fops]
        dense, done, _ = mac_totals(fops, "trec_f32")
        s["mac_x_f32"] = dense / done if done else 0.0
        s["removed_net_f32"] = (dense - done) / dense if dense else 0.0
        t_d = sum(o["dense_f32_ms"] for o in fops)
        t_t = sum(o["trec_f32_ms"] for o in fops)
        s["host_layer_x_f32"] = t_d / t_t if t_t else 0.0
        s["host_whole_x_f32"] = w["dense_f32"] / w["trec_f32"]
    if mcu_dense and mcu_trec:
        i_d = sum(mcu_dense["op_insns"].get(k, 0) for k in s["layers"])
        i_t = sum(mcu_trec["op_insns"].get(k, 0) for k in s["layers"])
        s["mcu_layer_x"] = i_d / i_t if i_t else 0.0
        s["mcu_whole_x"] = mcu_dense["insns"] / mcu_trec["insns"]
        s["mcu_bitexact"] = mcu_trec["bitexact"]
    return s


GOALS = (("acc", "accuracy within 1 point"), ("macs", ">= 3x fewer MACs"),
         ("host", ">= 2.5x faster TREC layers than dense ones of the same precision on this CPU"),
         ("mcu", ">= 3x fewer Cortex-M4 instructions (int8)"),
         ("whole", "network >= 1.8x (host, same precision, or Cortex-M4)"))


def goals(s, drop, drop_f32):
    """Per precision ("int8", "float"; float None without a float sidecar): goal -> True,
    False or None (not measured). The Cortex-M4 figures are the int8 firmware's, so the
    "mcu" goal and the M4 half of "whole" are the same for both precisions."""
    mcu = s["mcu_layer_x"] >= 3.0 if "mcu_layer_x" in s else None
    mcu_whole = s.get("mcu_whole_x", 0.0) >= 1.8
    g = {"int8": {"acc": drop <= 1.0 + 1e-9, "macs": s["mac_x"] >= 3.0,
                  "host": s["host_layer_x_s8"] >= 2.5, "mcu": mcu,
                  "whole": s["host_whole_x"] >= 1.8 or mcu_whole},
         "float": None}
    if "host_layer_x_f32" in s:
        g["float"] = {"acc": None if drop_f32 is None else drop_f32 <= 1.0 + 1e-9,
                      "macs": s["mac_x_f32"] >= 3.0, "host": s["host_layer_x_f32"] >= 2.5,
                      "mcu": mcu, "whole": s["host_whole_x_f32"] >= 1.8 or mcu_whole}
    return g


def all_met(g):
    return g is not None and all(v is True for v in g.values())


def fmt(x, f="%.2f"):
    return "-" if x is None or x == 0.0 else f % x


def write_md(a, results, path, cmdline):
    L = []
    L.append("<!-- bench/trec/run.py at %s UTC -->" % time.strftime("%Y-%m-%d %H:%M", time.gmtime()))
    L.append("")
    L.append("Command: `%s`" % cmdline)
    L.append("")
    for net in results:
        L.append("**%s**: dense int8 top-1 %.2f%%, dense float %s (%d evaluation images); "
                 "host dense int8 %.3f ms, dense float %s ms per image; Cortex-M4 dense %s M "
                 "instructions" % (net["name"], 100 * net["acc_s8"],
                                   fmt(net.get("acc_f32") and 100 * net["acc_f32"], "%.2f%%"),
                                   net["eval_images"], net["dense_ms"],
                                   fmt(net.get("dense_f32_ms"), "%.3f"),
                                   fmt(net.get("mcu_dense") and net["mcu_dense"] / 1e6, "%.1f")))
        L.append("")
        L.append("| sidecar | TREC layers | top-1 int8 (drop) | top-1 float (drop) "
                 "| MACs x fewer int8 / float (removed, net of hashing) "
                 "| host layers: TREC int8 vs dense int8 | host layers: TREC float vs dense float "
                 "| host network int8 / float | M4 layers | M4 network | M4 == host "
                 "| host layers: TREC int8 vs dense float (cross-precision) "
                 "| goals met, int8; float (acc, MACs, host, M4, network) |")
        L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|:-:|---:|---|")
        short = {"acc": "acc", "macs": "MACs", "host": "host", "mcu": "M4", "whole": "network"}
        for r in net["runs"]:
            s = r["sum"]
            met = lambda g: "-" if g is None else (
                ", ".join(short[k] for k, v in g.items() if v is True) or "none")
            acc_f = "-" if r.get("acc_f32") is None else (
                "%.2f%% (%s)" % (100 * r["acc_f32"], "-" if r.get("drop_f32") is None
                                 else "%+.2f" % (0.0 - r["drop_f32"] + 0.0)))
            macs_f = ("%.2fx (%.0f%%)" % (s["mac_x_f32"], 100 * s["removed_net_f32"])
                      if "mac_x_f32" in s else "-")
            L.append("| %s | %s | %.2f%% (%+.2f) | %s | %.2fx (%.0f%%) / %s | %sx | %s | %sx / %s "
                     "| %s | %s | %s | %s | int8: %s; float: %s |" % (
                r["cfg"], ",".join(str(x) for x in s["layers"]), 100 * r["acc"],
                0.0 - r["drop"] + 0.0, acc_f, s["mac_x"], 100 * s["removed_net"], macs_f,
                fmt(s["host_layer_x_s8"]),
                fmt(s.get("host_layer_x_f32")) + ("x" if s.get("host_layer_x_f32") else ""),
                fmt(s["host_whole_x"]),
                fmt(s.get("host_whole_x_f32")) + ("x" if s.get("host_whole_x_f32") else ""),
                fmt(s.get("mcu_layer_x")) + ("x" if s.get("mcu_layer_x") else ""),
                fmt(s.get("mcu_whole_x")) + ("x" if s.get("mcu_whole_x") else ""),
                {True: "yes", False: "NO"}.get(s.get("mcu_bitexact"), "-"),
                fmt(s.get("host_layer_x_s8_vs_dense_f32")) +
                ("x" if s.get("host_layer_x_s8_vs_dense_f32") else ""),
                met(r["goals"]["int8"]), met(r["goals"]["float"])))
        L.append("")
        has_f = any(r["goals"]["float"] for r in net["runs"])
        def who(prec, k):
            ok = [r["cfg"] for r in net["runs"]
                  if r["goals"][prec] and r["goals"][prec][k] is True]
            return ", ".join(ok) if ok else "**not met**"
        parts = []
        for k, lab in GOALS:
            if k == "mcu":   # the int8 firmware: one list
                parts.append("%s: %s" % (lab, who("int8", k)))
            elif has_f:
                parts.append("%s: int8 %s; float %s" % (lab, who("int8", k), who("float", k)))
            else:
                parts.append("%s: int8 %s" % (lab, who("int8", k)))
        all8 = [r["cfg"] for r in net["runs"] if all_met(r["goals"]["int8"])]
        allf = [r["cfg"] for r in net["runs"] if all_met(r["goals"]["float"])]
        L.append("Goals (met by): " + "; ".join(parts) + ". All five at once, int8 (host and "
                 "Cortex-M4): %s; float (host, with the int8 Cortex-M4 figures): %s." % (
                     ", ".join(all8) if all8 else "**not met**",
                     (", ".join(allf) if allf else "**not met**") if has_f
                     else "no float sidecars"))
        L.append("")
        best = [r for r in net["runs"] if r["goals"]["int8"]["acc"]]
        if best or net["runs"]:
            if best:
                b = max(best, key=lambda r: r["sum"]["mac_x"])
                why = "the most MACs removed within 1 point in int8"
            else:
                b = max(net["runs"], key=lambda r: r["acc"])
                why = "no sidecar is within 1 point in int8: the most accurate one"
            L.append("Per layer, %s (%s):" % (b["cfg"], why))
            L.append("")
            L.append("| op | L | H | rows | clusters int8 / float | dense MACs "
                     "| partial + hash MACs int8 / float | x fewer int8 / float "
                     "| host dense int8 ms | TREC int8 ms | dense float ms | TREC float ms "
                     "| M4 dense M insns | M4 TREC M insns |")
            L.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            for o in b["host"]["ops"]:
                if "trec" not in o:
                    continue
                t = o["trec"]
                md = (b.get("mcu_dense_ops") or {}).get(o["op"])
                mt = (b.get("mcu_ops") or {}).get(o["op"])
                tf = o.get("trec_f32")
                done = t["macs_reuse"] + t["macs_hash"]
                done_f = tf and tf["macs_reuse"] + tf["macs_hash"]
                L.append("| %d | %d | %d | %d | %.0f / %s | %.0f | %.0f / %s | %.2f / %s | %.4f "
                         "| %.4f | %s | %s | %s | %s |" % (
                    o["op"], t["L"], t["H"], t["rows"], t["clusters"],
                    fmt(tf and tf["clusters"], "%.0f"), t["macs_dense"], done,
                    fmt(done_f, "%.0f"), t["macs_dense"] / done,
                    fmt(done_f and tf["macs_dense"] / done_f), o["dense_s8_ms"],
                    o["trec_s8_ms"], fmt(o.get("dense_f32_ms"), "%.4f"),
                    fmt(o.get("trec_f32_ms"), "%.4f"),
                    fmt(md and md / 1e6, "%.2f"), fmt(mt and mt / 1e6, "%.2f")))
            L.append("")
    txt = "\n".join(L) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    open(path, "w").write(txt)
    return txt


def plot(results, path):
    """Accuracy change against each net's own dense model (int8; float for the float host
    panel) against the speed-ups and MAC ratio of the TREC layers: one colour per network
    group, IC ResNet-8 grid points joined over H per L; only the points on each panel's
    Pareto front (no other point both faster and more accurate) are labelled. Points more
    than YMIN points below their dense model are left out (counted in the title)."""
    try:
        import matplotlib
    except ImportError:
        die("the plot needs matplotlib: apt-get install python3-matplotlib (the tables are "
            "written already)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    YMIN = -12.0
    panels = (("host_layer_x_s8", "drop", "host int8: dense int8 time / TREC int8 time", 2.5),
              ("host_layer_x_f32", "drop_f32", "host float: dense float time / TREC float time", 2.5),
              ("mcu_layer_x", "drop", "Cortex-M4 (int8): dense / TREC instructions", 3.0),
              ("mac_x", "drop", "MACs (int8): dense / (partial products + hashing)", 3.0))
    fig, ax = plt.subplots(1, 4, figsize=(20, 5.6))
    hidden = 0
    colour = {}  # one colour per legend entry (network group, or IC grid curve), all panels
    for k, (field, dropf, lab, goal) in enumerate(panels):
        front = []  # (x, y, label) of every plotted point, for the Pareto front
        for net in results:
            curves = {}
            for r in net["runs"]:
                m = re.match(r"L([^_]+)_H(\d+)$", r["cfg"])
                key = ("L = " + ("in_c" if m.group(1) == "c" else m.group(1))) if m else "exports"
                curves.setdefault(key, []).append(r)
            for key, runs in curves.items():
                runs.sort(key=lambda r: int(re.sub(r"\D", "", r["cfg"].split("H")[-1]) or 0))
                pts = [(r["sum"].get(field, 0.0), -r[dropf], r["cfg"]) for r in runs
                       if r["sum"].get(field, 0.0) > 0 and r.get(dropf) is not None]
                if k == 0:
                    hidden += sum(1 for p in pts if p[1] < YMIN)
                pts = [p for p in pts if p[1] >= YMIN]
                if not pts:
                    continue
                label = net["name"].split(" (")[0] + ("" if key == "exports" else ": " + key)
                colour.setdefault(label, "C%d" % (len(colour) % 10))
                ax[k].plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=4,
                           linestyle="-" if key != "exports" else "none", color=colour[label],
                           alpha=0.85, label=label)
                front += pts
        for x, y, c in front:
            if not any(x2 >= x and y2 >= y and (x2, y2) != (x, y) for x2, y2, _ in front):
                ax[k].annotate(c, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax[k].axhline(0.0, color="black", linewidth=0.6)
        ax[k].axhline(-1.0, color="red", linestyle=":", linewidth=1)
        ax[k].axvline(goal, color="red", linestyle=":", linewidth=1)
        ax[k].axvline(1.0, color="grey", linewidth=0.5)
        ax[k].set_xlabel(lab + " (TREC layers)", fontsize=9)
        ax[k].set_ylabel("top-1 change vs the dense model (points)")
        ax[k].set_xscale("log")
        ax[k].set_ylim(YMIN, 1.5)
    handles, labels = ax[0].get_legend_handles_labels()
    seen = {}
    for h, l in zip(handles, labels):
        seen.setdefault(l, h)
    fig.legend(list(seen.values()), list(seen.keys()), loc="lower center", ncol=6, fontsize=8)
    fig.suptitle("TREC: accuracy change vs speed-up and MACs (red dotted: goals, 1 point and "
                 "the x goal; labels: each panel's Pareto front; log x; %d points more than %d "
                 "points below their dense model not shown)" % (hidden, -int(YMIN)), fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=85)


BEGIN, END = "<!-- trec-bench:begin -->", "<!-- trec-bench:end -->"


def update_doc(path, table, section=None):
    """Replaces the text between the markers (one read, one write)."""
    txt = open(path).read() if os.path.exists(path) else ""
    block = BEGIN + "\n" + table.rstrip() + "\n" + END
    if BEGIN in txt and END in txt:
        a, b = txt.index(BEGIN), txt.index(END) + len(END)
        txt = txt[:a] + block + txt[b:]
    else:
        head = ("\n" + section + "\n\nMethod, goals and analysis: docs/trec_bench.md.\n\n"
                if section else "\n")
        txt = txt.rstrip("\n") + "\n" + head + block + "\n"
    with open(path, "w") as f:
        f.write(txt)


# ---- main ---------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description="TREC benchmark")
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "trecbench"))
    ap.add_argument("--work", default=None)
    ap.add_argument("--L", default="4,8,c,p")
    ap.add_argument("--H", default="8,12,16")
    ap.add_argument("--ops", default="wide")
    ap.add_argument("--calib", type=int, default=16)
    ap.add_argument("--eval-every", type=int, default=1)
    ap.add_argument("--eval-threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--mcu-inputs", type=int, default=8)
    ap.add_argument("--no-mcu", action="store_true")
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument("--export-index", default=EXPORT_INDEX)
    ap.add_argument("--md", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--plot", default=os.path.join(ROOT, "docs", "trec_tradeoff.png"))
    ap.add_argument("--update-docs", action="store_true")
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    cmdline = " ".join(["bench/trec/run.py"] + sys.argv[1:])
    a.build = os.path.abspath(a.build)
    a.work = os.path.abspath(a.work or os.path.join(a.build, "trec_bench"))
    if a.smoke:
        if not os.path.exists(os.path.join(ASSETS, IC)):
            print("SKIPPED: %s not found" % os.path.join(ASSETS, IC))
            return 77
        a.L, a.H, a.calib, a.images, a.rounds, a.eval_every = "8", "12", 2, 2, 1, 500
        a.no_mcu, a.no_export = True, True
    os.makedirs(a.work, exist_ok=True)
    a.md = a.md or os.path.join(a.work, "trec_bench.md")
    a.json = a.json or os.path.join(a.work, "trec_bench.json")
    for b in ("frugal", "bench_trec"):
        if not os.path.exists(os.path.join(a.build, "bin", b)):
            die("%s/bin/%s not found: build first (cmake --build %s -j2)" % (a.build, b, a.build))
    tool = os.path.join(ROOT, "tools", "py", "trec_tflite.py")
    cifar = os.path.join(ASSETS, CIFAR)
    ev = os.path.join(a.work, "eval.bin")
    tim = os.path.join(a.work, "timing.bin")
    sh([PY, tool, "subset", cifar, ev, "--every", str(a.eval_every), "--skip-calib-pool"])
    sh([PY, tool, "subset", cifar, tim, "--every", "50"])   # 20 per class, class by class
    interleave_classes(tim)                                   # first N timed: N/10 per class
    n_eval = os.path.getsize(ev) // 3073

    nets = [("IC ResNet-8 (MLPerf Tiny, post-training sidecars)", os.path.join(ASSETS, IC),
             os.path.join(ASSETS, IC_F), None)]
    if not a.no_export:
        nets += export_nets(a.export_index)
    results = []
    fws = {}
    dense_fw = {}   # int8 model -> its dense firmware name
    for ni, (name, model, fmodel, runs) in enumerate(nets):
        tag = "n%d" % ni
        net = {"name": name, "model": model, "eval_images": n_eval, "runs": [], "tag": tag}
        net["acc_s8"] = classify(a, model, ev)
        net["acc_f32"] = classify(a, fmodel, ev) if fmodel else None
        if runs is None:
            runs = []
            for cfg, L, H in ic_configs(a):
                out = os.path.join(a.work, "%s_%s.trec" % (tag, cfg))
                make_sidecar(a, model, out, L, H, a.ops)
                fout = None
                if fmodel:   # the float twin's own sidecar (float projections)
                    fout = os.path.join(a.work, "%s_%s_float.trec" % (tag, cfg))
                    make_sidecar(a, fmodel, fout, L, H, a.ops)
                runs.append((cfg, model, fmodel, out, fout))
        for ri, (cfg, rmodel, rfloat, side, fside) in enumerate(runs):
            print("== %s %s" % (name, cfg), flush=True)
            fside = fside if rfloat else None
            r = {"cfg": cfg, "sidecar": side, "model": rmodel, "float_model": rfloat,
                 "float_sidecar": fside, "fw": fw_name("%s_r%d" % (tag, ri))}
            r["acc"] = classify(a, rmodel, ev, side)
            r["drop"] = 100 * (net["acc_s8"] - r["acc"])
            r["acc_f32"] = classify(a, rfloat, ev, fside) if fside else None
            r["drop_f32"] = (100 * (net["acc_f32"] - r["acc_f32"])
                             if fside and net["acc_f32"] is not None else None)
            r["host"] = bench_host(a, rmodel, rfloat, side, fside, tim, a.images, a.rounds)
            fws[r["fw"]] = (rmodel, side)
            if rmodel not in dense_fw:
                dense_fw[rmodel] = "d%d" % len(dense_fw)
                fws[dense_fw[rmodel]] = (rmodel, None)
            r["fw_dense"] = dense_fw[rmodel]
            net["runs"].append(r)
        if net["runs"]:
            w = net["runs"][0]["host"]["whole_ms"]
            net["dense_ms"], net["dense_f32_ms"] = w["dense_s8"], w.get("dense_f32")
        results.append(net)

    mcu = None if a.no_mcu else mcu_build(a, fws, a.mcu_inputs)
    for net in results:
        for r in net["runs"]:
            d = mcu and mcu.get(r["fw_dense"])
            if d:
                r["mcu_dense"] = d["insns"]
                r["mcu_dense_ops"] = d["op_insns"]
                net.setdefault("mcu_dense", d["insns"])
            t = mcu and mcu.get(r["fw"])
            if t:
                r["mcu_ops"] = t["op_insns"]
                r["mcu_insns"] = t["insns"]
            r["sum"] = summarise(r, d, t)
            r["goals"] = goals(r["sum"], r["drop"], r["drop_f32"])
    json.dump(results, open(a.json, "w"), indent=1)
    print(write_md(a, results, a.md, cmdline))
    if a.smoke:
        r = results[0]["runs"][0]
        ok = (r["sum"]["layers"] and r["sum"]["mac_x"] > 0 and r["host"]["whole_ms"]["trec_s8"] > 0
              and 0.0 <= r["acc"] <= 1.0)
        if r["float_sidecar"]:   # the float TREC engine ran on the same layers
            ok = ok and (r["sum"].get("layers_f32") == r["sum"]["layers"]
                         and r["sum"]["mac_x_f32"] > 0 and r["host"]["whole_ms"]["trec_f32"] > 0
                         and 0.0 <= r["acc_f32"] <= 1.0)
        if not ok:
            die("smoke: implausible figures in %s" % a.json)
        print("bench_trec smoke: ok (%s)" % ("int8 and float TREC" if r["float_sidecar"]
                                             else "int8 TREC; no float sidecar"))
        return 0
    plot(results, a.plot)
    print("wrote %s, %s, %s" % (a.md, a.json, a.plot))
    if a.update_docs:
        table = open(a.md).read()
        update_doc(os.path.join(ROOT, "docs", "trec_bench.md"), table)
        update_doc(os.path.join(ROOT, "docs", "benchmarks.md"), table, "## TREC")
        print("updated docs/trec_bench.md and docs/benchmarks.md (## TREC)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
