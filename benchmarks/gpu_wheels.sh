#!/usr/bin/env bash
# Fetch the wheels the GPU machine lacks (it has torch, timm, opencv, onnxruntime, tensorboard,
# scikit-image but no internet) into .whl/ for the device tool's `carry`; see
# /work/.library/device/README.md. Run here, in the repository root; .whl/ is git-ignored.
# On the device:  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
#   --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
set -euo pipefail
cd "$(dirname "$0")/.."
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qx "/.whl/" "$exclude" 2>/dev/null || echo "/.whl/" >> "$exclude"
mkdir -p .whl
platforms=()
for n in 2_17 2_27 2_28 2_34 2_35; do platforms+=(--platform "manylinux_${n}_x86_64"); done
platforms+=(--platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any)
# smp, piq, albumentations and what they need beyond the machine's own packages.
for package in segmentation-models-pytorch==0.6.0 piq==0.8.0 albumentations==2.0.8 \
        albucore==0.0.24 stringzilla simsimd pydantic pydantic-core annotated-types \
        typing-inspection; do
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp "${platforms[@]}" -d .whl "$package"
done
ls -la .whl
du -sh .whl
