# The shapes in the paper's FCN regime (no context module), for the study
# of docs/pad_layer.md ("4. An FCN without a context module"): ResNetV1c-18
# at a quarter width, output stride 8, a head of 1x1 convs only, on the
# embedded shapes (disks, squares and triangles of 6-90 px whose class only
# the outline tells; `python tools/dataset_converters/make_shapes.py --out
# data/shapes_voc`), read by mmseg's BaseSegDataset. 500 iterations of
# batch 8 from scratch. No paper number: docs/pad_layer.md has what we
# measured.
_base_ = [
    '../_base_/models/fcn_r18w16-os8_cpu.py',
    '../_base_/datasets/digits_voc.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_digits.py'
]
metainfo = dict(
    classes=('background', 'disk', 'square', 'triangle'),
    palette=[[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]])
data_root = 'data/shapes_voc/VOC2012'
dataset = dict(type='BaseSegDataset', data_root=data_root, metainfo=metainfo)
train_dataloader = dict(dataset=dataset)
val_dataloader = dict(dataset=dataset)
test_dataloader = val_dataloader
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0, end=500,
         by_epoch=False)
]
train_cfg = dict(max_iters=500, val_interval=500)
default_hooks = dict(checkpoint=dict(interval=500))
randomness = dict(seed=0)
