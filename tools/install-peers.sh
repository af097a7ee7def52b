#!/bin/sh
# Installs what `npm run bench` compares resnet-ts with, on a Debian or Ubuntu machine:
#   PyTorch and torchvision for /usr/bin/python3, with the threaded OpenBLAS (without it Debian's
#   torch uses the reference BLAS and trains about 6x slower), and TensorFlow.js (the bench's own
#   npm packages, into bench/node_modules). onnxruntime-node is a devDependency of the library
#   (`npm ci` at the root). Run from anywhere; apt needs root (sudo is used when not root).
# Afterwards `npm run bench` runs every peer; one that is still missing is a `not installed` row
# of the report, with the reason.
set -eu

root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
sudo=''
if [ "$(id -u)" -ne 0 ]; then sudo='sudo'; fi

if command -v apt-get >/dev/null 2>&1; then
  $sudo apt-get update
  $sudo apt-get install -y python3-torch python3-torchvision libopenblas0-pthread
else
  echo "install-peers: no apt-get here; install PyTorch and torchvision for python3 (or set RESNET_BENCH_PYTHON to a python that has them)" >&2
fi

npm --prefix "$root/bench" ci

python3 -c 'import torch, torchvision; print("install-peers: torch", torch.__version__, "torchvision", torchvision.__version__, "threads", torch.get_num_threads())' \
  || echo "install-peers: python3 cannot import torch and torchvision; the bench will report pytorch as not installed" >&2
(cd "$root/bench" && node --input-type=module -e 'await import("@tensorflow/tfjs-backend-wasm"); console.log("install-peers: tfjs-backend-wasm ok")') \
  || echo "install-peers: bench/node_modules has no @tensorflow/tfjs-backend-wasm; the bench will report tfjs as not installed" >&2
