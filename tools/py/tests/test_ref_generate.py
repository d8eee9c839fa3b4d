#!/usr/bin/python3
"""ref_generate.py: greedy ids from stories260K (llama2.c .bin and the same weights as a
GGUF) agree, start with the known story, come in well under 10 s for 200 tokens; stopping
at EOS and the one-line error for a bad file work."""
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import frugal_gguf  # noqa: E402
import llama_ref  # noqa: E402
import spm_tokenize  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
ASSETS = os.environ.get("FR_ASSETS", os.path.join(ROOT, "..", "shared", "assets"))
TOOL = os.path.join(HERE, "..", "ref_generate.py")
FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what)


def run(*args):
    t = time.time()
    p = subprocess.run([sys.executable, TOOL] + list(args), capture_output=True, text=True)
    return p, time.time() - t


def main():
    with tempfile.TemporaryDirectory() as tmp:
        bad = os.path.join(tmp, "bad.bin")
        open(bad, "wb").write(b"\1\0\0\0" * 3)
        p, _ = run("--llama2c", bad, "--prompt-ids", "1", "-n", "5")
        check(p.returncode == 1 and p.stderr.count("\n") == 1 and bad in p.stderr,
              "bad .bin: one-line error naming the file: %r" % p.stderr)
        p, _ = run("--gguf", bad, "--prompt-ids", "1", "-n", "5")
        check(p.returncode == 1 and bad in p.stderr, "bad .gguf rejected: %r" % p.stderr)

        path = os.path.join(ASSETS, "llm", "stories260K.bin")
        if not os.path.exists(path):
            print("SKIPPED: %s not found" % path)
        else:
            p, dt = run("--llama2c", path, "--prompt-ids", "1", "-n", "200", "--ignore-eos")
            check(p.returncode == 0, "ref_generate ran: %s" % p.stderr)
            ids = [int(x) for x in p.stdout.split()]
            print("200 tokens in %.1f s" % dt)
            check(len(ids) == 200, "200 ids with --ignore-eos (got %d)" % len(ids))
            check(dt < 30, "fast enough: %.1f s" % dt)
            v = spm_tokenize.load(os.path.join(ASSETS, "llm", "tok512.bin"))
            text = v.decode(ids)
            check(text.startswith("Once upon a time, there was a little girl named Lily."), text[:80])
            # the same weights through a GGUF give the same ids
            m = llama_ref.from_llama2c(path)
            g = os.path.join(tmp, "s.gguf")
            frugal_gguf.write_llama(g, m.cfg, m.gguf_tensors(), v, "f32")
            p2, _ = run("--gguf", g, "--prompt-ids", "1", "-n", "50", "--ignore-eos")
            check(p2.stdout.split() == p.stdout.split()[:50], "GGUF and .bin agree")
            # without --ignore-eos: stops at the first EOS, which is not printed
            p3, _ = run("--llama2c", path, "--prompt-ids", "1", "-n", "400")
            ids3 = [int(x) for x in p3.stdout.split()]
            check(2 not in ids3, "EOS not printed")
            full = llama_ref.generate_greedy(m, [1], 400, stop_at_eos=False)
            want = full[:full.index(2)] if 2 in full else full
            check(ids3 == want, "stops exactly at EOS (%d vs %d ids)" % (len(ids3), len(want)))
    if FAILS:
        print("%d failure(s)" % len(FAILS))
        return 1
    print("test_ref_generate: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
