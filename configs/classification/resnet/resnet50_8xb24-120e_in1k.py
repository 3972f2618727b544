# Table 6, row ResNet-50, regular: top-1 76.0, top-5 93.0 (ILSVRC-2012 val).
# Table 9: DRN ImageNet scheme, batch 192 (8 GPUs x 24), 120 epochs.
_base_ = [
    '../_base_/models/resnet50.py', '../_base_/datasets/imagenet.py',
    '../_base_/schedules/imagenet_bs192_drn-120e.py',
    '../_base_/default_runtime.py'
]
train_dataloader = dict(batch_size=24)
