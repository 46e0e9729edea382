#!/usr/bin/env bash
# All GPU figures of docs/benchmarks.md in one short run on one GPU
# (a few minutes; nothing beyond requirements/ is needed, no weights):
#   1. ViT-B/16 SAP-SAM ELCA training, batch 64, 384x128, bf16 AMP
#      (configs/sapsam/elca_cuhk.py, random weights): images/s, peak memory;
#   2. the same in the official whole-model fp16
#      (configs/sapsam/elca_cuhk_faithful.py as its config builds it; the
#      output says which dtype the weights have);
#   3. ICFG-PEDES-size evaluation (19,848 x 19,848) on the GPU: matmul floor,
#      sapsam's production path, IRRA's rank semantics.
# Usage: bash benchmarks/gpu_all.sh [DEVICE]   (DEVICE defaults to cuda)
# A CPU smoke run of the same steps at tiny sizes: SMOKE=1 bash benchmarks/gpu_all.sh cpu
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE=${1:-cuda}
if [[ "${SMOKE:-0}" == 1 ]]; then
    TRAIN=(--batch-size 2 --image-size 128 64 --steps 1 --warmup 0)
    EVAL=(--num-queries 600 --num-gallery 500 --num-ids 40 --repeats 1)
else
    TRAIN=(--batch-size 64 --image-size 384 128 --steps 10 --warmup 3)
    EVAL=(--repeats 2)
fi
echo "== 1/3 training step, bf16 AMP"
python benchmarks/gpu_train_step.py --device "$DEVICE" --dtype bfloat16 \
    --config configs/sapsam/elca_cuhk.py "${TRAIN[@]}"
echo "== 2/3 training step, faithful fp16 (no autocast, the config's weights)"
python benchmarks/gpu_train_step.py --device "$DEVICE" --dtype model \
    --config configs/sapsam/elca_cuhk_faithful.py "${TRAIN[@]}"
echo "== 3/3 ICFG-size evaluation"
python benchmarks/rank_metrics.py --device "$DEVICE" "${EVAL[@]}"
