#!/usr/bin/python3
"""PyTorch (Debian python3-torch, CPU) latency driver for bench/cnn/run.py.

usage: bench_torch.py MODEL.tflite THREADS
Builds the float model with tools/py/tflite_to_torch.py, traces it with TorchScript and
applies torch.jit.optimize_for_inference (freeze + oneDNN/MKL-DNN convolutions: with
Debian's torch 1.13 this is 30x faster than eager or plain frozen modules, whose
convolutions use the generic path), then follows the stdin protocol of bench_frugal.c:
"run N", "mem", "quit".
"""
import os
import sys
import time
import warnings


def status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return -1


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore")
    import torch
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.path.insert(0, os.path.join(root, "tools", "py"))
    import tflite_to_torch
    torch.set_num_threads(int(sys.argv[2]))
    rss_base = status_kb("VmRSS:")
    try:
        net = tflite_to_torch.TFLiteNet(sys.argv[1]).eval()
    except tflite_to_torch.ConvertError as e:
        print("bench_torch.py: %s" % e, file=sys.stderr)
        return 1
    shape = net.input_shape_nchw()
    g = torch.Generator().manual_seed(12345)
    x = torch.randint(0, 256, shape, generator=g).float() / 256.0
    with torch.inference_mode():
        mod = torch.jit.optimize_for_inference(torch.jit.trace(net, x).eval())
        for _ in range(10):
            mod(x)
        for line in sys.stdin:
            if line.startswith("run "):
                n = int(line.split()[1])
                times = []
                for _ in range(n):
                    t0 = time.perf_counter_ns()
                    mod(x)
                    times.append((time.perf_counter_ns() - t0) / 1000.0)
                print("times_us " + " ".join("%.2f" % t for t in times), flush=True)
            elif line.startswith("mem"):
                print("mem rss_base_kb %d rss_peak_kb %d" % (rss_base, status_kb("VmHWM:")), flush=True)
            elif line.startswith("quit"):
                break
            else:
                print("bench_torch.py: unknown command: %s" % line.strip(), file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
