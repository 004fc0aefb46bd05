#!/usr/bin/env bash
# Detector goals of docs/detectors.md on Fashion-MNIST 28 px: trains four GAN families for the
# same number of generator steps (dcgan ns, wgan-gp, hinge + spectral norm, conditional hinge +
# SN), then CNN, spectral, discriminator and adversarially trained CNN detectors on the dcgan's
# fakes (sampled on the fly) and a CNN on each other family's fakes, and evaluates each on
# held-out test images against 2000 fakes of every GAN (cross-generator table), under JPEG and
# blur, and under white-box PGD on the detector. Writes <OUT_DIR>/*.json (a step whose output
# exists is skipped, so a rerun only does what is missing) and prints one JSON line per result.
#   [THREADS=N] bench/detector_eval.sh [OUT_DIR=detector-eval] [STEPS=500] [LIMIT=10000]
set -euo pipefail
mirage=${MIRAGE_BUILD_DIR:-build}/cli/mirage
out=${1:-detector-eval}
steps=${2:-500}
limit=${3:-10000}
threads=(--threads "${THREADS:-0}")
mkdir -p "$out"
gan() {  # name, extra flags; skipped when its checkpoint exists
  local name=$1; shift
  [[ -f "$out/$name/checkpoint/generator.pt" ]] && return
  "$mirage" train-gan --steps "$steps" --g-width 32 --d-width 32 --batch-size 64 --sample-every "$steps" \
    --checkpoint-every "$steps" --seed 0 --overwrite -q "${threads[@]}" --out "$out/$name" "$@"
}
gan dcgan --loss ns
gan wgan-gp --loss wgan-gp
gan hinge-sn --loss hinge --spectral-norm
gan conditional --arch conditional --loss hinge --spectral-norm
fakes=()
for g in dcgan wgan-gp hinge-sn conditional; do fakes+=(--fake "$g=$out/$g/checkpoint"); done

detector() {  # name, GAN whose fakes it learns, flags
  local name=$1 gan=$2; shift 2
  [[ -f "$out/$name.pt" ]] && return
  local t0=$(date +%s)
  "$mirage" train-detector --fake "$out/$gan/checkpoint" --limit "$limit" --seed 1 -q "${threads[@]}" \
    --out "$out/$name.pt" "$@"
  echo "{\"trained\": \"$name\", \"seconds\": $(( $(date +%s) - t0 ))}"
}
detector cnn dcgan --kind cnn
detector spectral dcgan --kind spectral
detector discriminator dcgan --kind discriminator --gan "$out/dcgan/checkpoint"
detector cnn-adv dcgan --kind cnn --adv-eps 4/255 --adv-steps 5
for g in wgan-gp hinge-sn conditional; do detector "cnn-$g" "$g" --kind cnn; done

evaluate() {  # detector, tag, flags
  local det=$1 tag=$2; shift 2
  [[ -f "$out/$det.$tag.json" ]] || "$mirage" eval-detector "$out/$det.pt" --real fashion-mnist:test --seed 2 -q \
    "${threads[@]}" --out "$out/$det.$tag.json" "$@"
  python3 - "$out/$det.$tag.json" "$det" "$tag" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
row = {"detector": sys.argv[2], "eval": sys.argv[3], "auc": round(r["metrics"]["overall"]["auc"], 4),
       "per_source_auc": {k: round(v["auc"], 4) for k, v in r["metrics"]["per_source"].items()},
       "tpr_at_threshold": {k: round(v["tpr"], 4) for k, v in r["metrics"]["per_source"].items()},
       "fpr": round(r["metrics"]["overall"]["fpr"], 4), "tpr_at_1pct_fpr": round(r["metrics"]["overall"]["tpr_at_1pct_fpr"], 4),
       "eer": round(r["metrics"]["overall"]["eer"], 4), "ece": round(r["metrics"]["overall"]["ece"], 4)}
for k, rows in r.get("robustness", {}).items():
    row[k] = {str(x.get("quality", x.get("sigma", x.get("eps")))): round(x["auc"], 4) for x in rows}
print(json.dumps(row))
PY
}
n2000=(--limit 2000 --fake-count 2000)
for det in cnn spectral discriminator cnn-adv cnn-wgan-gp cnn-hinge-sn cnn-conditional; do evaluate "$det" cross "${n2000[@]}" "${fakes[@]}"; done
for det in cnn spectral; do
  evaluate "$det" post "${n2000[@]}" --fake "dcgan=$out/dcgan/checkpoint" --jpeg 90,75,50 --blur 0.5,1,2
done
for det in cnn cnn-adv; do
  evaluate "$det" pgd --fake "dcgan=$out/dcgan/checkpoint" --limit 1000 --fake-count 1000 --pgd 1/255,2/255,4/255,8/255
done
