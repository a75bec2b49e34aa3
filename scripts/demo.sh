#!/usr/bin/env bash
# The posenn demo: synthetic animals → train a single-instance model on the CPU → track a new
# video → evaluate against its exact ground truth → draw the predictions.
# DEMO_DIR (default demo_out) and DEMO_STEPS (training steps, default 2000: about 4.5 minutes
# on a 2-core CPU) can be changed.
set -euo pipefail
out="${DEMO_DIR:-demo_out}"
steps="${DEMO_STEPS:-2000}"

posenn synth "$out/train" --animals 1 --frames 600 --size 192 --seed 1
posenn synth "$out/test" --animals 1 --frames 200 --size 192 --seed 2
posenn config "$out/train/synth.slp" --type single_instance -o "$out/config.yaml"

rm -rf "$out/model"
# Seen from above, the animals face every direction: rotate training frames by up to 180°.
posenn train "$out/config.yaml" train.run_dir="$out/model" augment.rotation=180 \
    train.epochs=$((steps / 50)) train.steps_per_epoch=50 train.early_stopping_patience=null

posenn track "$out/test/synth.mp4" -m "$out/model" -o "$out/test.predictions.slp"
posenn eval "$out/test/synth.slp" "$out/test.predictions.slp" --json "$out/metrics.json"
posenn render "$out/test.predictions.slp" -o "$out/overlay.mp4" --quiet
posenn render "$out/test.predictions.slp" -o "$out/overlay.png" --quiet
echo "Demo outputs in $out/: model/, test.predictions.slp, metrics.json, overlay.mp4, overlay.png"
