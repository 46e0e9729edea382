#!/usr/bin/env bash
# Every lab number of docs/results.md, 3 seeds each, on a 2-core machine
# (two single-threaded runs at a time). Needs `make data`. About an hour.
#   bash tools/analysis/lab_results.sh [WORK_DIR]
set -euo pipefail
W=$(realpath -m "${1:-work_dirs/lab}")
SEEDS="0 1 2"
mkdir -p "$W"
TABLE=tools/analysis/ablation_table.py
# The transferred encoders (returns at once when they are up to date).
python tools/misc/pretrain_lab_encoders.py --out data/synthetic/weights

# Supplement Table 5 layout: Person-SAM prompt encoders on synthetic ATR.
python $TABLE --data-root none --seeds $SEEDS --jobs 2 --work-dir "$W/table5" \
    --metrics per_sample/mIoU seg/mIoU --json "$W/table5.json" --configs \
    "CLS=configs/lab/person_sam_cls.py" "dense=configs/lab/person_sam_dense.py" \
    "dot=configs/lab/person_sam_dot.py" "MCA=configs/lab/person_sam_mca.py"

# Stage 4 with each MCA seed: part masks of the CUHK-PEDES train images,
# scored against the benchmark's ground truth.
for s in $SEEDS; do
    ckpt=$(ls "$W"/table5/person_sam_mca_seed$s/best_*.pth | tail -1)
    python tools/data/run_part_pipeline.py --data-root data/synthetic \
        --work-dir "$W/parts_seed$s" --checkpoint "$ckpt" \
        --person-sam-config configs/lab/person_sam_mca.py \
        --part-masks-config 'configs/lab/part_masks_{short}.py' \
        --datasets CUHK-PEDES --out "$W/part_masks_seed$s.json"
done

# Supplement Table 6 layout with the ground-truth parts, and ELCA's two
# readouts.
python $TABLE --seeds $SEEDS --jobs 2 --work-dir "$W/table6" \
    --json "$W/table6.json" --cfg-options train_dataloader.num_workers=1 \
    --configs "w/o matching=configs/lab/baseline.py" \
    "1) avgPool=configs/lab/avgpool.py" "2) Conv1D=configs/lab/conv1d.py" \
    "3) MHSA=configs/lab/mhsa.py" "4) ELCA=configs/lab/elca.py" \
    "4) ELCA, cls readout=configs/lab/elca_cls.py"

# SAP-SAM on Person-SAM's masks (seed s of the retriever on the masks of
# Person-SAM seed s).
psam_run() {  # seed, threads
    parts="$W/parts_seed$1/CUHK-PEDES"
    OMP_NUM_THREADS=$2 MKL_NUM_THREADS=$2 python $TABLE --seeds "$1" \
        --work-dir "$W/psam_masks" --json "$W/psam_masks_seed$1.json" \
        --cfg-options train_dataloader.num_workers=1 \
        "train_dataloader.dataset.part_files.data_final=$(ls "$parts"/CUHK-PEDES_data_final_*.json)" \
        "train_dataloader.dataset.part_files.score_dict=$(ls "$parts"/CUHK-PEDES_score_dict_*.json)" \
        "train_dataloader.dataset.part_files.seg_dir=$parts/segs" \
        --configs "ELCA on Person-SAM masks=configs/lab/elca.py"
}
psam_run 0 1 & sleep 1; psam_run 1 1; wait
psam_run 2 2
