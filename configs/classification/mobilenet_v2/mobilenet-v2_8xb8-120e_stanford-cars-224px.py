# Table 7, row MobileNetV2, Stanford Cars, crop 224, regular: top-1 88.7.
# Table 10: fine-tuned from ImageNet with the DLA scheme, batch 64 (8 x 8).
_base_ = [
    '../_base_/models/mobilenet-v2_1x.py',
    '../_base_/datasets/stanford_cars_224.py',
    '../_base_/schedules/fine-grained_bs64_dla-120e.py',
    '../_base_/default_runtime.py'
]
# ImageNet weights: mmpretrain's mobilenet-v2_8xb32_in1k (71.86 top-1); its
# final 1x1 conv ``conv2`` loads too.
pretrained = 'https://download.openmmlab.com/mmclassification/v0/mobilenet_v2/mobilenet_v2_batch256_imagenet_20200708-3b2dc3af.pth'  # noqa
model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone')),
    head=dict(num_classes=196))
