#!/usr/bin/env bash
# Test a checkpoint on a Slurm cluster, one task per GPU. The ranks share
# the queries and gallery; the metrics equal a single process's (the
# retrieval loop gathers every feature).
# Usage: bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options]
# Environment: GPUS, GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS, PYTHON (see
# tools/slurm_run.sh).
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options]" >&2
    exit 2
fi
exec bash "$(dirname "$0")/slurm_run.sh" "$1" "$2" test.py "$3" "$4" \
    --launcher slurm "${@:5}"
