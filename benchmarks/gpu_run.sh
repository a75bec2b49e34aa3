#!/usr/bin/env bash
# The long-video benchmark on a lent GPU machine (see DEVELOPERS.md and the device tool's README).
#
# Here, once (the machine lacks sleap-io, pydantic, pycocotools, motmetrics, shapely and the
# sample data, and imageio-ffmpeg is too big to carry):
#   echo /.whl/ >> .git/info/exclude; echo /.gpu_data/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#       -d .whl sleap-io pydantic pydantic-core pycocotools motmetrics shapely attrs cattrs imageio
#   python benchmarks/long_video.py --prepare-only --work .gpu_data
# Then run this script through the device tool with carry [".whl", ".gpu_data"], e.g.
#   bash benchmarks/gpu_run.sh            (about 5 minutes on an H100)
set -euo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
out="${OUT:-/tmp/out}"
mkdir -p "$out" /tmp/long
cp .gpu_data/flies1024* /tmp/long/
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$out/gpu.txt"
python3 benchmarks/long_video.py --device cuda --work /tmp/long --steps 300 --memory-frames 0 2>&1 | tee "$out/long_video.log"
cp benchmarks/results/long_video_cuda.json "$out/"
