#!/usr/bin/env bash
# GAN quality after a fixed CPU budget (docs/gan.md): trains dcgan (ns), conditional (hinge +
# spectral norm) and wgan-gp on Fashion-MNIST 28 px for the same number of generator steps, then
# scores 2000 fakes of each against the test set with gan-eval on the demo classifier's features,
# next to a held-out real set (the floor). Prints one JSON line per model.
#   [THREADS=N] bench/gan_quality.sh CLASSIFIER.pt [OUT_DIR=gan-quality] [STEPS=1000]
set -euo pipefail
mirage=${MIRAGE_BUILD_DIR:-build}/cli/mirage
classifier=$1
out=${2:-gan-quality}
steps=${3:-1000}
mkdir -p "$out"
common=(--steps "$steps" --g-width 32 --d-width 32 --batch-size 64 --sample-every "$steps" --checkpoint-every "$steps" --seed 0 --overwrite -q --threads "${THREADS:-0}")
train() {  # name, extra flags
  local name=$1; shift
  local t0=$(date +%s)
  "$mirage" train-gan "${common[@]}" --out "$out/$name" "$@"
  local t1=$(date +%s)
  "$mirage" gan-eval --gan "$out/$name/checkpoint" --classifier "$classifier" --num 2000 \
    --reference fashion-mnist:train --seed 0 -q --threads "${THREADS:-0}" --out "$out/$name.eval.json"
  python3 - "$out/$name.eval.json" "$out/$name/train.json" "$name" $((t1 - t0)) <<'PY'
import json, sys
e = json.load(open(sys.argv[1])); t = json.load(open(sys.argv[2]))
m, f = e["metrics"], e["floor"]["metrics"]
keys = ["fd_fmnist", "precision_fmnist", "recall_fmnist", "density_fmnist", "coverage_fmnist"]
row = {"model": sys.argv[3], "train_seconds": int(sys.argv[4]), "img_per_s": round(t["mean_images_per_second"]),
       **{k: round(m[k], 3) for k in keys}, "kid_fmnist": round(m["kid_fmnist"]["mean"], 4),
       "classes_covered": e["class_coverage"]["classes_covered"],
       "class_entropy": round(e["class_coverage"]["normalized_entropy"], 3),
       "class_agreement": round(e["fake"].get("class_agreement", -1), 3),
       "floor": {**{k: round(f[k], 3) for k in keys}, "kid_fmnist": round(f["kid_fmnist"]["mean"], 4),
                 "class_entropy": round(e["floor"]["class_coverage"]["normalized_entropy"], 3)}}
print(json.dumps(row))
PY
}
train dcgan --loss ns
train conditional --arch conditional --loss hinge --spectral-norm
train wgan-gp --loss wgan-gp
