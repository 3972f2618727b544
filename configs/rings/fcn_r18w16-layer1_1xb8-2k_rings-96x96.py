# The main job's regular network (tools/main_job.py): the showcase FCN
# (stem + layer1 of ResNetV1c-18 w16 at output stride 4, 1x1 head,
# ../_base_/models/fcn_r18w16-layer1_cpu.py) on the embedded rings, 2,000
# iterations of batch 8 from scratch. The rings (`python
# tools/dataset_converters/make_shapes.py --out data/rings_voc --outline 2
# --class-by colour`): disks, squares and triangles of 6-90 px drawn as a 2 px
# band in red, green or blue; the label (the colour) covers the whole shape,
# whose inside shows the background, so a pixel inside a large ring is told
# apart only by a receptive field that reaches the ring. Read by mmseg's
# BaseSegDataset. The fixed-dilation models of the main job are this config
# with `model.backbone.dilations=(d,)`.
_base_ = [
    '../_base_/models/fcn_r18w16-layer1_cpu.py',
    '../_base_/datasets/digits_voc.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_digits.py'
]
metainfo = dict(
    classes=('background', 'red', 'green', 'blue'),
    palette=[[0, 0, 0], [128, 0, 0], [0, 128, 0], [0, 0, 128]])
data_root = 'data/rings_voc/VOC2012'
dataset = dict(type='BaseSegDataset', data_root=data_root, metainfo=metainfo)
train_dataloader = dict(dataset=dataset)
val_dataloader = dict(dataset=dataset)
test_dataloader = val_dataloader
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0, end=2000,
         by_epoch=False)
]
train_cfg = dict(max_iters=2000, val_interval=2000)
default_hooks = dict(checkpoint=dict(interval=2000))
randomness = dict(seed=0)
