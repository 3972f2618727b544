# Table 7, row ResNet-50, FGVC-Aircraft, crop 224, regular: top-1 86.1.
# Table 10: fine-tuned from ImageNet with the DLA scheme, batch 64 (8 x 8).
_base_ = [
    '../_base_/models/resnet50.py',
    '../_base_/datasets/fgvc_aircraft_224.py',
    '../_base_/schedules/fine-grained_bs64_dla-120e.py',
    '../_base_/default_runtime.py'
]
# ImageNet weights: mmpretrain's resnet50_8xb32_in1k (76.55 top-1).
pretrained = 'https://download.openmmlab.com/mmclassification/v0/resnet/resnet50_8xb32_in1k_20210831-ea4938fc.pth'  # noqa
model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone')),
    head=dict(num_classes=100))
