#!/usr/bin/env bash
# The demo: installs what is missing, builds, trains mirage's classifier on Fashion-MNIST,
# evaluates it on the test set and attacks it (PGD-40 and AutoAttack, Linf eps 0.1, on the
# first 1000 test images). Later stages (GAN, detector, reports) join here.
# Outputs go to ${MIRAGE_DEMO_OUT:-demo-out}/; the last line printed names the evaluation JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
mirage=${MIRAGE_BUILD_DIR:-build}/cli/mirage
out=${MIRAGE_DEMO_OUT:-demo-out}
seed=${MIRAGE_SEED:-0}
mkdir -p "$out"

echo "== 1/4 train the classifier (Fashion-MNIST train, 3 epochs)" >&2
"$mirage" train-classifier --data fashion-mnist:train --epochs 3 --seed "$seed" \
  --out "$out/classifier.pt" --report "$out/classifier.train.json"

echo "== 2/4 evaluate it (Fashion-MNIST test)" >&2
"$mirage" eval --model "$out/classifier.pt" --data fashion-mnist:test --seed "$seed" \
  --out "$out/classifier.eval.json"

echo "== 3/4 attack it with PGD-40 (Linf eps 0.1, first 1000 test images)" >&2
"$mirage" attack --model "$out/classifier.pt" --data fashion-mnist:test --limit 1000 --seed "$seed" \
  --attack pgd -p eps=0.1 -p alpha=0.01 -p steps=40 --no-images --overwrite --out "$out/attack-pgd"

echo "== 4/4 attack it with AutoAttack (APGD-CE, APGD-T, FAB-T, Square; Linf eps 0.1)" >&2
"$mirage" attack --model "$out/classifier.pt" --data fashion-mnist:test --limit 1000 --seed "$seed" \
  --attack autoattack -p eps=0.1 --no-images --overwrite --out "$out/attack-autoattack"

echo "demo: evaluation JSON in $out/classifier.eval.json; attack summaries in $out/attack-*/summary.json" >&2
echo "$out/classifier.eval.json"
