# Table 6, row VGG-16, regular: top-1 73.0, top-5 91.2 (ILSVRC-2012 val).
# Table 9: PyTorch ImageNet defaults, batch 128 (4 GPUs x 32), 120 epochs.
_base_ = [
    '../_base_/models/vgg16.py', '../_base_/datasets/imagenet.py',
    '../_base_/schedules/imagenet_bs128_pytorch-120e.py',
    '../_base_/default_runtime.py'
]
train_dataloader = dict(batch_size=32)
