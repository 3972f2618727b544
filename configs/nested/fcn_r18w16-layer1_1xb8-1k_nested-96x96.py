# The main job's regular network (tools/main_job.py) on the nested rings
# (../_base_/datasets/nested_rings_voc.py): the showcase FCN (stem + layer1 of
# ResNetV1c-18 w16 at output stride 4, 1x1 head,
# ../_base_/models/fcn_r18w16-layer1_cpu.py), 1,000 iterations of batch 8 from
# scratch. layer1 at dilation 1 sees 47 px: enough inside a small ring, not
# inside a large one. The main job's fixed-dilation models are this config
# with `model.backbone.dilations=(d,)`.
_base_ = [
    '../_base_/models/fcn_r18w16-layer1_cpu.py',
    '../_base_/datasets/nested_rings_voc.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_digits.py'
]
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0, end=1000,
         by_epoch=False)
]
train_cfg = dict(max_iters=1000, val_interval=1000)
default_hooks = dict(checkpoint=dict(interval=1000))
randomness = dict(seed=0)
