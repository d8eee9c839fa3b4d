#!/usr/bin/env bash
# Builds llama.cpp's llama-bench and llama-speculative(-simple) for the benchmarks, from the
# llama.cpp source that the npm package node-llama-cpp bundles (llama/gitRelease.bundle),
# with GGML_NATIVE so that it uses every instruction set of this CPU. Nothing is committed:
# everything lands in bench/peers/ (git-ignored). Needs npm, git, cmake, g++.
set -euo pipefail
cd "$(dirname "$0")"
VERSION="${NODE_LLAMA_CPP_VERSION:-3.22.1}"
mkdir -p peers && cd peers
if [ ! -x llama.cpp/build/bin/llama-bench ]; then
    [ -f "node-llama-cpp-$VERSION.tgz" ] || npm pack "node-llama-cpp@$VERSION" >/dev/null
    tar xzf "node-llama-cpp-$VERSION.tgz" package/llama/gitRelease.bundle
    rm -rf llama.cpp && git clone -q package/llama/gitRelease.bundle llama.cpp
    cmake -S llama.cpp -B llama.cpp/build -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
        -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DBUILD_SHARED_LIBS=OFF >/dev/null
    cmake --build llama.cpp/build -j"$(nproc)" --target llama-bench llama-speculative llama-speculative-simple llama-completion >/dev/null
fi
echo "llama.cpp tools in $(pwd)/llama.cpp/build/bin (node-llama-cpp $VERSION, llama.cpp $(git -C llama.cpp log -1 --format=%h))"
