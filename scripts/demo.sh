#!/usr/bin/env bash
# The posenn demo: two synthetic animals → train a top-down pair (centroid + centered instance)
# on the CPU → predict a new video → evaluate against its exact ground truth → draw the result.
# DEMO_DIR (default demo_out) and DEMO_STEPS (centered-instance training steps, default 2000:
# about 3 minutes on a 2-core CPU) can be changed.
set -euo pipefail
out="${DEMO_DIR:-demo_out}"
steps="${DEMO_STEPS:-2000}"

posenn synth "$out/train" --animals 2 --frames 600 --size 256 --seed 1
posenn synth "$out/test" --animals 2 --frames 200 --size 256 --seed 2
posenn config "$out/train/synth.slp" --type centroid -o "$out/centroid.yaml"
posenn config "$out/train/synth.slp" --type centered_instance -o "$out/centered.yaml"

rm -rf "$out/centroid" "$out/centered"
# Centres are easy to find at half resolution.
posenn train "$out/centroid.yaml" train.run_dir="$out/centroid" data.scale=0.5 \
    train.epochs=6 train.steps_per_epoch=50 train.early_stopping_patience=null
# Seen from above, the animals face every direction: rotate training crops by up to 180°.
posenn train "$out/centered.yaml" train.run_dir="$out/centered" augment.rotation=180 \
    train.epochs=$((steps / 50)) train.steps_per_epoch=50 train.early_stopping_patience=null

posenn track "$out/test/synth.mp4" -m "$out/centroid" -m "$out/centered" -o "$out/test.predictions.slp"
posenn eval "$out/test/synth.slp" "$out/test.predictions.slp" --json "$out/metrics.json"
posenn render "$out/test.predictions.slp" -o "$out/overlay.mp4" --quiet
posenn render "$out/test.predictions.slp" -o "$out/overlay.png" --quiet
echo "Demo outputs in $out/: centroid/, centered/, test.predictions.slp, metrics.json, overlay.mp4, overlay.png"
