#!/usr/bin/env bash
# Blind-spot figures of docs/blind-spots.md on Fashion-MNIST 28 px: trains a target classifier
# and an independent auxiliary one, a conditional GAN (hinge + spectral norm) and a CNN detector
# on its fakes; then runs the detector's blind-spot search, the unrestricted (Song et al.)
# latent search against the classifier, and AdvGAN against PGD at the same eps. Writes
# <OUT_DIR>/*; a step whose output exists is skipped, so a rerun only does what is missing.
#   [THREADS=N] bench/blind_spots_eval.sh [OUT_DIR=blind-spots-eval] [GAN_STEPS=1500]
set -euo pipefail
mirage=${MIRAGE_BUILD_DIR:-build}/cli/mirage
out=${1:-blind-spots-eval}
steps=${2:-1500}
threads=(--threads "${THREADS:-0}")
mkdir -p "$out"
run() {  # output, command...: skipped when the output exists; prints the seconds it took
  local target=$1; shift
  [[ -e "$target" ]] && return
  local t0=$(date +%s)
  "$mirage" "$@" -q "${threads[@]}"
  echo "{\"made\": \"$target\", \"seconds\": $(( $(date +%s) - t0 ))}"
}
run "$out/classifier.pt" train-classifier --epochs 3 --seed 1 --out "$out/classifier.pt"
run "$out/aux.pt" train-classifier --epochs 3 --filters 16 --hidden 64 --seed 2 --out "$out/aux.pt"
run "$out/cgan/checkpoint/generator.pt" train-gan --arch conditional --loss hinge --spectral-norm --steps "$steps" \
  --g-width 32 --d-width 32 --sample-every "$steps" --checkpoint-every "$steps" --seed 0 --overwrite --out "$out/cgan"
run "$out/detector.pt" train-detector --kind cnn --fake "$out/cgan/checkpoint" --limit 10000 --epochs 3 --seed 1 \
  --out "$out/detector.pt"
run "$out/classifier.eval.json" eval --model "$out/classifier.pt" --data fashion-mnist:test --out "$out/classifier.eval.json"
run "$out/aux.eval.json" eval --model "$out/aux.pt" --data fashion-mnist:test --out "$out/aux.eval.json"

# The detector's blind spots (every slice, latent search from 64 seeds), and those of a weaker
# spectral detector, which misses some clean fakes: latent clusters.
run "$out/blind-spots" blind-spots "$out/detector.pt" --fake "cgan=$out/cgan/checkpoint" --n 1000 --limit 1000 \
  --seed 3 --out "$out/blind-spots"
run "$out/spectral.pt" train-detector --kind spectral --fake "$out/cgan/checkpoint" --limit 10000 --seed 1 \
  --out "$out/spectral.pt"
run "$out/blind-spots-spectral" blind-spots "$out/spectral.pt" --fake "cgan=$out/cgan/checkpoint" --n 2000 \
  --limit 1000 --seed 3 --latent-search 0 --out "$out/blind-spots-spectral"

# Unrestricted adversarial examples against the classifier (Song et al.), three distance weights.
run "$out/unrestricted-default" latent-search --gan "$out/cgan/checkpoint" --model "$out/classifier.pt" \
  --aux "$out/aux.pt" -n 100 --seed 5 --out "$out/unrestricted-default"
run "$out/unrestricted-lz10" latent-search --gan "$out/cgan/checkpoint" --model "$out/classifier.pt" \
  --aux "$out/aux.pt" -n 100 --seed 5 --lambda-z 10 --lr 0.05 --steps 100 --out "$out/unrestricted-lz10"
run "$out/unrestricted-lz1" latent-search --gan "$out/cgan/checkpoint" --model "$out/classifier.pt" \
  --aux "$out/aux.pt" -n 100 --seed 5 --lambda-z 1 --lr 0.05 --steps 200 --out "$out/unrestricted-lz1"
# Fakes the detector calls real: white-box and from scores only.
run "$out/evasion" latent-search --gan "$out/cgan/checkpoint" --detector "$out/detector.pt" -n 64 --seed 5 \
  --lambda-z 1 --lr 0.05 --steps 50 --out "$out/evasion"
run "$out/evasion-nes" latent-search --gan "$out/cgan/checkpoint" --detector "$out/detector.pt" -n 64 --seed 5 \
  --lambda-z 1 --lr 0.05 --steps 50 --gradient-free --out "$out/evasion-nes"


# Cross-generator: a detector trained on an unconditional DCGAN's fakes, searched on the
# conditional GAN's: which classes and latent regions of the new generator it misses.
run "$out/dcgan/checkpoint/generator.pt" train-gan --steps 500 --g-width 32 --d-width 32 --sample-every 500 \
  --checkpoint-every 500 --seed 0 --overwrite --out "$out/dcgan"
run "$out/detector-dcgan.pt" train-detector --kind cnn --fake "$out/dcgan/checkpoint" --limit 10000 --epochs 3 --seed 1 \
  --out "$out/detector-dcgan.pt"
run "$out/blind-spots-cross" blind-spots "$out/detector-dcgan.pt" --fake "cgan=$out/cgan/checkpoint" --n 2000 \
  --limit 1000 --seed 3 --latent-search 0 --out "$out/blind-spots-cross"

python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
for name in ["classifier", "aux"]:
    print(json.dumps({"model": name, "test_accuracy": json.load(open(f"{out}/{name}.eval.json"))["result"]["accuracy"]}))
for name in ["blind-spots", "blind-spots-spectral", "blind-spots-cross"]:
    r = json.load(open(f"{out}/{name}/findings.json"))
    print(json.dumps({"search": name, "threshold": r["threshold"], "overall": r["overall"]}))
    for f in r["findings"][:15]:
        print(json.dumps({"rank": f["rank"], "search": f["search"], "slice": f["slice"], "parameters": f["parameters"],
                          "population": f["population"], "failures": f["failures"], "n": f["n"],
                          "ci95": [round(x, 3) for x in f["ci95"]], "details": {k: v for k, v in f["details"].items() if k != "attack"}}))
for name in ["unrestricted-default", "unrestricted-lz10", "unrestricted-lz1", "evasion", "evasion-nes"]:
    s = json.load(open(f"{out}/{name}/summary.json"))
    print(json.dumps({"search": name, **{k: s.get(k) for k in ["n", "successes", "met_at_start", "mean_z_distance", "mean_linf", "mean_l2", "queries", "seconds"]}}))
PY
