#!/usr/bin/env bash
# Run a sapsam tool on Slurm, one task per GPU (used by slurm_train.sh and
# slurm_test.sh). Usage: bash tools/slurm_run.sh PARTITION JOB_NAME TOOL.py [args]
# Environment (defaults): GPUS=8 tasks in all, GPUS_PER_NODE=min(GPUS, 8),
# CPUS_PER_TASK=5 (dataloader workers + 1), SRUN_ARGS="" (extra srun flags,
# e.g. "--quotatype=auto --time=2-00:00:00"), PYTHON=python3.
# MMEngine's slurm launcher reads the rank, world size and master node from
# srun's SLURM_* variables; MASTER_PORT (default 29500) may be set.
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
TOOL=$3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-$(( GPUS < 8 ? GPUS : 8 ))}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}

# shellcheck disable=SC2086  # SRUN_ARGS holds several flags
PYTHONPATH="$(dirname "$0")/..":${PYTHONPATH:-} \
srun --partition="$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "${PYTHON:-python3}" -u "$(dirname "$0")/$TOOL" "${@:4}"
