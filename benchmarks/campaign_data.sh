#!/usr/bin/env bash
# The GPU campaign's training set (benchmarks/gpu_campaign.py), made by the project itself from
# the redistributable real assets: render N samples at 256x256, re-split so that train and test
# share no scene photo and no inserted mesh, validate, pack into WebDataset shards that the
# device tool can carry (ignored folder .campaign/; carry `.campaign/shards` and `.whl`).
# About 20 minutes for 1500 samples on 2 cores. Usage: bash benchmarks/campaign_data.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-1500}
out=.campaign
render-dataset --scenes assets/real/scenes --models assets/real/models --out "$out/data" \
    -n "$count" --size 256 --seed 2026 --test-fraction 0
shadow-dataset split "$out/data" --by both --test 0.2 --val 0 --seed 0
shadow-dataset validate "$out/data"
shadow-dataset stats "$out/data" --json "$out/stats.json"
shadow-dataset pack "$out/data" "$out/shards" --shard-size 60MB --overwrite
du -sh "$out/shards"
