#!/usr/bin/env bash
# The study of docs/pad_layer.md ("The settings, measured over seeds"), as we
# ran it: PAD settings against the regular network and fixed dilations, over
# seeds 0-2, on the digits and on the shapes, from scratch and fine-tuned,
# the FCN regime (study 4), the showcase (study 5) and the nested rings with
# a held-out split (study 6).
# About 2 hours on 2 cores. Results in work_dirs/study*/results.md.
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

# 5. the showcase (the main job's configs, docs/pad_layer.md study 5): fixed
#    dilations of layer1 (mmseg's: the first conv of each block), all four
#    convs at one dilation (the PAD twin with one candidate), PAD settings;
#    2,000 iterations (the configs'). The PAD config trains its prior at 10x
#    the network's rate; LR1 sets it back to 1x.
$PY tools/dataset_converters/make_shapes.py --out data/rings_voc \
    --num-train 400 --num-val 100 --size 96 96 --seed 0 --outline 2 \
    --class-by colour
RREG=configs/rings/fcn_r18w16-layer1_1xb8-2k_rings-96x96.py
RPAD=configs/rings/fcn_pad-r18w16-layer1_1xb8-2k_rings-96x96.py
LR1=model.backbone.pad_cfg.prior_gain=1.0  # the config's prior is 10x (the default gain)
$PY tools/seed_study.py d1=$RREG d2=$RREG d4=$RREG all2=$RPAD all4=$RPAD \
    pad-base=$RPAD pad-uniform=$RPAD pad-hard=$RPAD pad-lr10=$RPAD \
    --seeds 0 1 2 --jobs 2 --work-dir work_dirs/study5 \
    --set d2 'model.backbone.dilations=(2,)' \
    --set d4 'model.backbone.dilations=(4,)' \
    --set all2 'model.backbone.pad_cfg.dilations=(2,)' \
    --set all4 'model.backbone.pad_cfg.dilations=(4,)' \
    --set pad-base $LR1 --set pad-uniform $LR1 $U \
    --set pad-hard $LR1 model.backbone.pad_cfg.hard=True
$PY tools/seed_study.py d4=$RREG pad-base=$RPAD pad-uniform=$RPAD \
    pad-lr10=$RPAD --seeds 3 4 --jobs 2 --work-dir work_dirs/study5b \
    --set d4 'model.backbone.dilations=(4,)' \
    --set pad-base $LR1 --set pad-uniform $LR1 $U
$PY tools/seed_study.py lr10-uniform=$RPAD lr10-tau1=$RPAD --seeds 0 1 2 \
    --jobs 2 --work-dir work_dirs/study5c --set lr10-uniform $U \
    --set lr10-tau1 custom_hooks.0.end=1.0

# 6. nested rings, train / val / test (the main job's data and schedule,
#    1,000 iterations); every choice on val: the studies test on val.txt,
#    test.txt is read by tools/main_job.py only
$PY tools/dataset_converters/make_shapes.py --out data/nested_voc \
    --scene nested --num-train 400 --num-val 100 --num-test 200 --seed 0
N=data/nested_voc/VOC2012
NREG=configs/nested/fcn_r18w16-layer1_1xb8-1k_nested-96x96.py
NPAD=configs/nested/fcn_pad-r18w16-layer1_1xb8-1k_nested-96x96.py
ONVAL="$(data $N) test_dataloader.dataset.ann_file=ImageSets/Segmentation/val.txt"
G1=model.backbone.pad_cfg.prior_gain=1.0
$PY tools/seed_study.py d1=$NREG d2=$NREG d4=$NREG gain1=$NPAD lr10=$NPAD \
    gain10=$NPAD gain3=$NPAD tau1=$NPAD uniform=$NPAD uniform-tau1=$NPAD \
    --seeds 0 1 2 --jobs 2 --work-dir work_dirs/study6 --cfg-options $ONVAL \
    --set d2 'model.backbone.dilations=(2,)' \
    --set d4 'model.backbone.dilations=(4,)' \
    --set gain1 $G1 \
    --set lr10 $G1 optim_wrapper.paramwise_cfg.custom_keys.aggregation.lr_mult=10.0 \
    --set gain3 model.backbone.pad_cfg.prior_gain=3.1623 \
    --set tau1 custom_hooks.0.end=1.0 --set uniform $U \
    --set uniform-tau1 $U custom_hooks.0.end=1.0
#    fine-tuning under SGD from the regular network (d1, seed 0), 500 more
$PY tools/seed_study.py plain=$NREG gain1=$NPAD gain10=$NPAD --seeds 0 1 2 \
    --jobs 2 --work-dir work_dirs/study6-sgd --cfg-options $ONVAL \
    load_from=work_dirs/study6/d1/seed0/iter_1000.pth \
    optim_wrapper.optimizer.type=SGD optim_wrapper.optimizer.lr=0.01 \
    optim_wrapper.optimizer.momentum=0.9 \
    optim_wrapper.optimizer.weight_decay=0.0005 \
    train_cfg.max_iters=500 train_cfg.val_interval=500 \
    param_scheduler.0.end=500 default_hooks.checkpoint.interval=500 \
    --set gain1 $G1
#    the rings of study 5 again, val now disjoint from train
$PY tools/seed_study.py d4=$RREG pad=$RPAD --seeds 0 1 2 --jobs 2 \
    --work-dir work_dirs/study6-rings --cfg-options $(data data/rings_voc/VOC2012) \
    --set d4 'model.backbone.dilations=(4,)'
