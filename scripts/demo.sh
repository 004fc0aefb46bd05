#!/usr/bin/env bash
# The demo: installs what is missing, builds, trains mirage's classifier on Fashion-MNIST,
# evaluates it on the test set and attacks it (PGD-40 and AutoAttack, Linf eps 0.1, on the
# first 1000 test images); trains a small DCGAN, scores its fakes with gan-eval on the
# classifier's features and draws the fakes later stages use. Later stages (detector, reports)
# join here.
# Outputs go to ${MIRAGE_DEMO_OUT:-demo-out}/; the last line printed names the evaluation JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
mirage=${MIRAGE_BUILD_DIR:-build}/cli/mirage
out=${MIRAGE_DEMO_OUT:-demo-out}
seed=${MIRAGE_SEED:-0}
mkdir -p "$out"

echo "== 1/7 train the classifier (Fashion-MNIST train, 3 epochs)" >&2
"$mirage" train-classifier --data fashion-mnist:train --epochs 3 --seed "$seed" \
  --out "$out/classifier.pt" --report "$out/classifier.train.json"

echo "== 2/7 evaluate it (Fashion-MNIST test)" >&2
"$mirage" eval --model "$out/classifier.pt" --data fashion-mnist:test --seed "$seed" \
  --out "$out/classifier.eval.json"

echo "== 3/7 attack it with PGD-40 (Linf eps 0.1, first 1000 test images)" >&2
"$mirage" attack --model "$out/classifier.pt" --data fashion-mnist:test --limit 1000 --seed "$seed" \
  --attack pgd -p eps=0.1 -p alpha=0.01 -p steps=40 --no-images --overwrite --out "$out/attack-pgd"

echo "== 4/7 attack it with AutoAttack (APGD-CE, APGD-T, FAB-T, Square; Linf eps 0.1)" >&2
"$mirage" attack --model "$out/classifier.pt" --data fashion-mnist:test --limit 1000 --seed "$seed" \
  --attack autoattack -p eps=0.1 --no-images --overwrite --out "$out/attack-autoattack"

echo "== 5/7 train a DCGAN (Fashion-MNIST train, 1500 steps of 64, widths 32)" >&2
"$mirage" train-gan --data fashion-mnist:train --steps 1500 --g-width 32 --d-width 32 --seed "$seed" \
  --sample-every 500 --checkpoint-every 500 --overwrite --out "$out/gan"

echo "== 6/7 score its fakes (fd_fmnist, KID, precision/recall, coverage; 2000 fakes vs test images)" >&2
"$mirage" gan-eval --gan "$out/gan/checkpoint" --classifier "$out/classifier.pt" --num 2000 \
  --reference fashion-mnist:train --seed "$seed" --out "$out/gan-eval.json"

echo "== 7/7 draw 1000 fakes for the detector stage (PNGs + manifest of latent seeds)" >&2
"$mirage" generate --gan "$out/gan/checkpoint" -n 1000 --seed "$seed" --overwrite --out "$out/fakes"

echo "demo: GAN samples in $out/gan/samples/, quality in $out/gan-eval.json, fakes in $out/fakes/" >&2
echo "demo: evaluation JSON in $out/classifier.eval.json; attack summaries in $out/attack-*/summary.json" >&2
echo "$out/classifier.eval.json"
