#!/usr/bin/env bash
# The study of docs/pad_layer.md ("The settings, measured over seeds"), as we
# ran it: PAD settings against the regular network and fixed dilations, over
# seeds 0-2, on the digits and on the shapes, from scratch and fine-tuned,
# and the FCN regime (study 4).
# About an hour on 2 cores. Results in work_dirs/study{1,2,3,4}/results.md.
#
#   bash tools/study_pad_settings.sh
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/tools/setup_env.sh"
cd "$repo"
PY=.venv/bin/python
D=data/digits_voc/VOC2012
S=data/shapes_voc/VOC2012
REG=configs/digits/deeplabv3plus_r18w16-os8_1xb8-1k_digits-96x96.py
PAD=configs/digits/deeplabv3plus_pad-r18w16-os8_1xb8-1k_digits-96x96.py
SREG=configs/shapes/deeplabv3plus_r18w16-os8_1xb8-1k_shapes-96x96.py
SPAD=configs/shapes/deeplabv3plus_pad-r18w16-os8_1xb8-1k_shapes-96x96.py
ITERS="train_cfg.max_iters=500 train_cfg.val_interval=500 param_scheduler.0.end=500 default_hooks.checkpoint.interval=500"
U=model.backbone.pad_cfg.prior_init=uniform
data() { echo "train_dataloader.dataset.data_root=$1 val_dataloader.dataset.data_root=$1 test_dataloader.dataset.data_root=$1"; }

# the main job's digits, and the shapes
$PY tools/dataset_converters/make_digits.py --out data/digits_voc --layout voc \
    --num-train 400 --num-val 100 --size 96 96 --seed 0
$PY tools/dataset_converters/make_shapes.py --out data/shapes_voc \
    --num-train 400 --num-val 100 --size 96 96 --seed 0

# 1. digits, from scratch
$PY tools/seed_study.py regular=$REG fixed-d2=$REG fixed-d4=$REG \
    pad-base=$PAD pad-uniform=$PAD uniform-tau1=$PAD uniform-hard=$PAD \
    uniform-lr10=$PAD uniform-recurrent=$PAD uniform-gated=$PAD \
    --seeds 0 1 2 --jobs 2 --work-dir work_dirs/study1 \
    --cfg-options $(data $D) $ITERS \
    --set fixed-d2 'model.backbone.dilations=(1,1,1,2)' \
    --set fixed-d4 'model.backbone.dilations=(1,1,1,4)' \
    --set pad-uniform $U \
    --set uniform-tau1 $U custom_hooks.0.end=1.0 \
    --set uniform-hard $U model.backbone.pad_cfg.hard=True \
    --set uniform-lr10 $U \
        optim_wrapper.paramwise_cfg.custom_keys.aggregation.lr_mult=10.0 \
    --set uniform-recurrent $U model.backbone.pad_cfg.aggregation=recurrent \
    --set uniform-gated $U model.backbone.pad_cfg.aggregation=gated

# 2. shapes, from scratch
$PY tools/seed_study.py regular=$SREG fixed-d2=$SREG pad-base=$SPAD \
    pad-uniform=$SPAD --seeds 0 1 2 --jobs 2 --work-dir work_dirs/study2 \
    --cfg-options $(data $S) $ITERS \
    --set fixed-d2 'model.backbone.dilations=(1,1,1,2)' --set pad-uniform $U

# 3. digits, fine-tuning the regular network of study 1 (seed 0)
$PY tools/seed_study.py ft-regular=$REG ft-pad-base=$PAD ft-pad-uniform=$PAD \
    --seeds 0 1 2 --jobs 2 --work-dir work_dirs/study3 \
    --cfg-options $(data $D) $ITERS \
        load_from=work_dirs/study1/regular/seed0/iter_500.pth \
    --set ft-pad-uniform $U

# 4. the FCN regime (no context module), first row of study 4 in
#    docs/pad_layer.md: regular vs fixed dilations vs PAD on the shapes
#    (the other rows: the same with --cfg-options for the data and stages)
FREG=configs/shapes/fcn_r18w16-os8_1xb8-500_shapes-96x96.py
FPAD=configs/shapes/fcn_pad-r18w16-os8_1xb8-500_shapes-96x96.py
$PY tools/seed_study.py regular=$FREG fixed-d2=$FREG fixed-d4=$FREG \
    pad-base=$FPAD pad-uniform=$FPAD --seeds 0 1 2 --jobs 2 \
    --work-dir work_dirs/study4 --cfg-options $(data $S) \
    --set fixed-d2 'model.backbone.dilations=(1,1,1,2)' \
    --set fixed-d4 'model.backbone.dilations=(1,1,1,4)' --set pad-uniform $U
