#!/usr/bin/env bash
# The demo: installs what is missing, builds, trains mirage's classifier on Fashion-MNIST and
# evaluates it on the test set. Later stages (GAN, attacks, detector, reports) join here.
# Outputs go to ${MIRAGE_DEMO_OUT:-demo-out}/; the last line printed names the evaluation JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
mirage=${MIRAGE_BUILD_DIR:-build}/cli/mirage
out=${MIRAGE_DEMO_OUT:-demo-out}
seed=${MIRAGE_SEED:-0}
mkdir -p "$out"

echo "== 1/2 train the classifier (Fashion-MNIST train, 3 epochs)" >&2
"$mirage" train-classifier --data fashion-mnist:train --epochs 3 --seed "$seed" \
  --out "$out/classifier.pt" --report "$out/classifier.train.json"

echo "== 2/2 evaluate it (Fashion-MNIST test)" >&2
"$mirage" eval --model "$out/classifier.pt" --data fashion-mnist:test --seed "$seed" \
  --out "$out/classifier.eval.json"

echo "demo: evaluation JSON in $out/classifier.eval.json" >&2
echo "$out/classifier.eval.json"
