// ONNX Runtime (npm onnxruntime-node, CPU) latency driver for bench/cnn/run.py.
// usage: node bench_ort.js MODEL.onnx THREADS
// Same stdin protocol as bench_frugal.c: "run N", "mem", "quit".
'use strict';
const path = require('path');
const fs = require('fs');
const readline = require('readline');

function statusKb(key) {
  const m = fs.readFileSync('/proc/self/status', 'utf8').match(new RegExp('^' + key + '\\s+(\\d+)', 'm'));
  return m ? Number(m[1]) : -1;
}

async function main() {
  const [model, threadsArg] = process.argv.slice(2);
  if (!model || !threadsArg) {
    console.error('usage: node bench_ort.js MODEL.onnx THREADS');
    process.exit(2);
  }
  const peers = process.env.FR_ORT_DIR || path.join(__dirname, '..', 'peers', 'cnn', 'node_modules');
  const ort = require(path.join(peers, 'onnxruntime-node'));
  const rssBase = statusKb('VmRSS:');
  const threads = Number(threadsArg);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  // Input shape (NCHW), given by run.py, which knows it from the .tflite file.
  const shape = (process.env.FR_INPUT_SHAPE || '').split(',').filter(Boolean).map(Number);
  if (shape.length === 0) {
    console.error('bench_ort.js: set FR_INPUT_SHAPE (e.g. 1,3,32,32)');
    process.exit(2);
  }
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s ^= (s << 13) >>> 0; s >>>= 0; s ^= s >>> 17; s ^= (s << 5) >>> 0; s >>>= 0;
    data[i] = (s >>> 24) / 256;
  }
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, shape) };
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const m = line.match(/^run (\d+)/);
    if (m) {
      const times = [];
      for (let k = 0; k < Number(m[1]); k++) {
        const t0 = process.hrtime.bigint();
        await session.run(feeds);
        times.push(Number(process.hrtime.bigint() - t0) / 1000);
      }
      process.stdout.write('times_us ' + times.map((t) => t.toFixed(2)).join(' ') + '\n');
    } else if (line.startsWith('mem')) {
      process.stdout.write(`mem rss_base_kb ${rssBase} rss_peak_kb ${statusKb('VmHWM:')}\n`);
    } else if (line.startsWith('quit')) {
      break;
    } else {
      console.error('bench_ort.js: unknown command: ' + line);
      process.exit(1);
    }
  }
  rl.close();
  process.exit(0);
}

main().catch((e) => {
  console.error('bench_ort.js: ' + (e && e.message ? e.message : e));
  process.exit(1);
});
