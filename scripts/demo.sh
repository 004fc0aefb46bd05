#!/usr/bin/env bash
# The demo: installs what is missing, builds, trains mirage's classifier on Fashion-MNIST,
# evaluates it on the test set and attacks it (PGD-40 and AutoAttack, Linf eps 0.1, on the
# first 1000 test images); trains a small DCGAN, scores its fakes with gan-eval on the
# classifier's features and draws fakes; trains a CNN detector on real images vs the GAN's fakes
# (sampled on the fly), scores the drawn fakes with it and evaluates it on held-out images;
# trains a short AdvGAN against the classifier and attacks with it; searches the detector's
# blind spots; finally audits the classifier and the detector as a CI job would
# (scripts/audit/*.json): JSON reports, Markdown summaries, JUnit gates and HTML pages.
# Outputs go to ${MIRAGE_DEMO_OUT:-demo-out}/; the last lines printed name the two reports, and
# the exit status is the gates' verdict (0 all passed, 1 a gate failed, 2/3 an error).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
mirage=${MIRAGE_BUILD_DIR:-build}/cli/mirage
out=${MIRAGE_DEMO_OUT:-demo-out}
seed=${MIRAGE_SEED:-0}
mkdir -p "$out"

echo "== 1/15 train the classifier (Fashion-MNIST train, 3 epochs)" >&2
"$mirage" train-classifier --data fashion-mnist:train --epochs 3 --seed "$seed" \
  --out "$out/classifier.pt" --report "$out/classifier.train.json"

echo "== 2/15 evaluate it (Fashion-MNIST test)" >&2
"$mirage" eval --model "$out/classifier.pt" --data fashion-mnist:test --seed "$seed" \
  --out "$out/classifier.eval.json"

echo "== 3/15 attack it with PGD-40 (Linf eps 0.1, first 1000 test images)" >&2
"$mirage" attack --model "$out/classifier.pt" --data fashion-mnist:test --limit 1000 --seed "$seed" \
  --attack pgd -p eps=0.1 -p alpha=0.01 -p steps=40 --no-images --overwrite --out "$out/attack-pgd"

echo "== 4/15 attack it with AutoAttack (APGD-CE, APGD-T, FAB-T, Square; Linf eps 0.1)" >&2
"$mirage" attack --model "$out/classifier.pt" --data fashion-mnist:test --limit 1000 --seed "$seed" \
  --attack autoattack -p eps=0.1 --no-images --overwrite --out "$out/attack-autoattack"

echo "== 5/15 train a DCGAN (Fashion-MNIST train, 1500 steps of 64, widths 32)" >&2
"$mirage" train-gan --data fashion-mnist:train --steps 1500 --g-width 32 --d-width 32 --seed "$seed" \
  --sample-every 500 --checkpoint-every 500 --overwrite --out "$out/gan"

echo "== 6/15 score its fakes (fd_fmnist, KID, precision/recall, coverage; 2000 fakes vs test images)" >&2
"$mirage" gan-eval --gan "$out/gan/checkpoint" --classifier "$out/classifier.pt" --num 2000 \
  --reference fashion-mnist:train --seed "$seed" --out "$out/gan-eval.json"

echo "== 7/15 draw 1000 fakes for the detector stage (PNGs + manifest of latent seeds)" >&2
"$mirage" generate --gan "$out/gan/checkpoint" -n 1000 --seed "$seed" --overwrite --out "$out/fakes"

echo "== 8/15 train a real-vs-fake detector (CNN, 10000 real training images vs the GAN's fakes)" >&2
"$mirage" train-detector --kind cnn --fake "$out/gan/checkpoint" --limit 10000 --epochs 3 --seed "$seed" \
  --out "$out/detector.pt"

echo "== 9/15 score the drawn fakes with it (JSON Lines, one per image)" >&2
"$mirage" score --detector "$out/detector.pt" "$out/fakes/images" --seed "$seed" \
  --out "$out/scores.jsonl" --summary "$out/scores.summary.json"

echo "== 10/15 evaluate it on held-out test images vs 2000 new fakes (AUC, TPR at 1% FPR, EER)" >&2
"$mirage" eval-detector "$out/detector.pt" --real fashion-mnist:test --fake "dcgan=$out/gan/checkpoint" \
  --limit 2000 --fake-count 2000 --seed "$seed" --out "$out/detector.eval.json"  # prints AUC, TPR, EER

echo "== 11/15 train an AdvGAN against the classifier (Linf eps 0.1, 2 epochs of 10000 training images)" >&2
"$mirage" train-advgan --model "$out/classifier.pt" --data fashion-mnist:train --eps 0.1 --epochs 2 --limit 10000 \
  --seed "$seed" --overwrite --out "$out/advgan" > "$out/advgan.train.json"

echo "== 12/15 attack with it: one forward pass per image (first 1000 test images, as PGD in stage 3)" >&2
"$mirage" attack --model "$out/classifier.pt" --data fashion-mnist:test --limit 1000 --seed "$seed" \
  --attack advgan --advgan "$out/advgan" --no-images --overwrite --out "$out/attack-advgan"

echo "== 13/15 search the detector's blind spots (source, class, post-processing, evasion, latent search)" >&2
"$mirage" blind-spots "$out/detector.pt" --fake "dcgan=$out/gan/checkpoint" --n 1000 --limit 1000 --seed "$seed" \
  --overwrite --out "$out/blind-spots"

mkdir -p "$out/audit"
echo "== 14/15 audit the classifier for CI (scripts/audit/robustness.json: FGSM, PGD Linf/L2, Square, AutoAttack; gates)" >&2
robustness_rc=0
"$mirage" audit robustness --model "$out/classifier.pt" --data fashion-mnist:test --config scripts/audit/robustness.json \
  --seed "$seed" --out "$out/audit/robustness.json" --images "$out/audit/robustness-worst" \
  --markdown "$out/audit/robustness.md" --junit "$out/audit/robustness.junit.xml" --html "$out/audit/robustness.html" \
  || robustness_rc=$?

echo "== 15/15 audit the detector for CI (scripts/audit/detector.json: metrics, blind-spot slices, latent search; gates)" >&2
detector_rc=0
"$mirage" audit detector --detector "$out/detector.pt" --fake "dcgan=$out/gan/checkpoint" --real fashion-mnist:test \
  --config scripts/audit/detector.json --seed "$seed" --out "$out/audit/detector.json" --images "$out/audit/detector-examples" \
  --markdown "$out/audit/detector.md" --junit "$out/audit/detector.junit.xml" --html "$out/audit/detector.html" \
  || detector_rc=$?

echo "demo: blind spots in $out/blind-spots/findings.json (examples in $out/blind-spots/examples/)" >&2
echo "demo: detector in $out/detector.pt, scores in $out/scores.jsonl, evaluation in $out/detector.eval.json" >&2
echo "demo: GAN samples in $out/gan/samples/, quality in $out/gan-eval.json, fakes in $out/fakes/" >&2
echo "demo: evaluation JSON in $out/classifier.eval.json; attack summaries in $out/attack-*/summary.json" >&2
echo "demo: audit summaries in $out/audit/*.md, pages in $out/audit/*.html, JUnit in $out/audit/*.junit.xml" >&2
# An error (exit 2 or 3) outranks a failed gate (1), which outranks a pass (0).
rc=$(( robustness_rc > detector_rc ? robustness_rc : detector_rc ))
echo "demo: gates $([ "$rc" -eq 0 ] && echo passed || echo 'did not pass') (robustness exit $robustness_rc, detector exit $detector_rc)" >&2
echo "$out/audit/robustness.json"
echo "$out/audit/detector.json"
exit "$rc"
