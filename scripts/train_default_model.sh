#!/usr/bin/env bash
# Reproduce the shipped network (me_perception/resources/default_model/) from scratch.
#
#   scripts/train_default_model.sh [OUT_DIR]        (default: out/default_model_run)
#
# What it does (docs/model.md, "Training recipe"; about 15-20 min on 2 free CPU cores):
# * data: synthetic clips of two identities (astronaut, grace_hopper), our generator only (the
#   independent generator is kept for evaluation), subjects 1-6 of each, generator seeds
#   1000-1001, 640x480 webcam-like clips (5 micro, 1 macro, blinks, 1 head movement, head
#   sway) at 30 fps (2 clips x 8 s per subject) and 200 fps (1 clip x 4 s), JPEG q80 camera
#   round trip, measured by the pipeline's own FaceMeasurement: the network reads the 4 x 32 x
#   32 motion map (D_b, D_k in IOD), not the face. Prepared videos are cached in OUT/prepared.
# * leave-one-identity-out: fold "astronaut" trains on grace_hopper only and is tested on the
#   astronaut, fold "grace_hopper" the other way round; epoch and the node's event thresholds
#   are chosen on one validation subject per training identity (EventDetector over p_micro +
#   p_macro). Models: OUT/folds/<identity>/model/. Then the final model on both identities:
#   OUT/model/ (+ OUT/report.json), copied to the package.
# Never used: subject 0 seed 4 (the shipped sample), subject ids >= 100 and the independent
# generator (held-out evaluation sets, me_perception_make_eval_set). Fixed seeds; torch uses
# 2 threads. Resumable: run it again with the same OUT_DIR to continue.
# Held-out check through the node's pipeline afterwards (see docs/model.md):
#   me_perception_make_eval_set EVAL --identity grace_hopper --generator ours independent
#   me_perception_pipeline_eval EVAL --model OUT/folds/grace_hopper/model --model roi_flow
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ME_VENV:-$ROOT/.venv}"
OUT="${1:-$ROOT/out/default_model_run}"
DEST="$ROOT/me_perception/resources/default_model"
export MPLBACKEND=Agg
export OMP_NUM_THREADS=2 PYTHONHASHSEED=0

start=$(date +%s)
"$VENV/bin/python" -m me_perception.learning.cli train \
  --out "$OUT" --protocol loio --identities astronaut grace_hopper --generator ours \
  --seed 1 --subjects 6 --first-subject 1 \
  --clip-preset webcam --fps 30 200 --clips-per-subject 2 1 --duration-s 8 4 \
  --head-movements 1 --jpeg-quality 80 --blink-label neutral \
  --input motion --label-set casme2_5 \
  --epochs 10 --steps 40 --batch-size 8 --window-s 2.0 --max-window-frames 120 --lr 2e-3 \
  --val-subjects 1 --threads 2
echo "training wall time: $(( $(date +%s) - start )) s"

mkdir -p "$DEST"
cp "$OUT/model/model.onnx" "$OUT/model/model.safetensors" "$DEST/"
# the report names folders of this run: written relative to OUT, so the shipped file is the
# same wherever the recipe ran
sed "s#$OUT#OUT#g" "$OUT/report.json" >"$DEST/training_report.json"
echo "installed the final model in $DEST (select it with model_path:=network)"
