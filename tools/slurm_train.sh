#!/usr/bin/env bash
# Train on a Slurm cluster, one task per GPU, over as many nodes as needed.
# Usage: bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]
# Environment: GPUS, GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS, PYTHON (see
# tools/slurm_run.sh), e.g. GPUS=16 GPUS_PER_NODE=8 for two nodes.
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]" >&2
    exit 2
fi
exec bash "$(dirname "$0")/slurm_run.sh" "$1" "$2" train.py "$3" \
    --work-dir "$4" --launcher slurm "${@:5}"
