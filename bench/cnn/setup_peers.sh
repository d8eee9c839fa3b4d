#!/usr/bin/env bash
# Installs the npm peer of the CNN benchmark (onnxruntime-node, pinned in bench/package.json)
# into bench/peers/cnn (git-ignored). --ignore-scripts: the package's install script only
# fetches optional GPU binaries; the CPU binding for linux-x64 ships in the tarball.
# PyTorch comes from Debian (python3-torch).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DEST="$ROOT/bench/peers/cnn"
mkdir -p "$DEST"
cp "$ROOT/bench/package.json" "$DEST/package.json"
(cd "$DEST" && npm install --ignore-scripts --no-audit --no-fund)
node -e "require('$DEST/node_modules/onnxruntime-node'); console.log('onnxruntime-node loads')"
