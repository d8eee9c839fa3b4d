// Runs an ONNX model once with ONNX Runtime (npm onnxruntime-node) on a raw float32 input
// file and prints the output as JSON: used by tools/py/tflite_to_torch.py --check-ort.
// usage: node ort_run.js MODEL.onnx INPUT.f32 DIM,DIM,...
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [model, input, dims] = process.argv.slice(2);
  if (!model || !input || !dims) {
    console.error('usage: node ort_run.js MODEL.onnx INPUT.f32 DIM,DIM,...');
    process.exit(2);
  }
  const peers = process.env.FR_ORT_DIR || path.join(__dirname, '..', 'peers', 'cnn', 'node_modules');
  const ort = require(path.join(peers, 'onnxruntime-node'));
  const b = fs.readFileSync(input);
  const x = new Float32Array(b.buffer, b.byteOffset, b.length / 4);
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
  const shape = dims.split(',').map(Number);
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, shape) });
  process.stdout.write(JSON.stringify(Array.from(out[session.outputNames[0]].data)) + '\n');
}

main().catch((e) => {
  console.error('ort_run.js: ' + (e && e.message ? e.message : e));
  process.exit(1);
});
