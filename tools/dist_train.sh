#!/usr/bin/env bash
# Usage: bash tools/dist_train.sh CONFIG NGPUS [train.py options]
# On a machine without GPUs, NGPUS CPU processes train with the gloo backend.
# Launches with the Python that runs the tools (PYTHON, default python3), so
# no torchrun on PATH is needed (a venv need not be activated).
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
"${PYTHON:-python3}" -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS \
    --master_port=$PORT \
    "$(dirname "$0")/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
