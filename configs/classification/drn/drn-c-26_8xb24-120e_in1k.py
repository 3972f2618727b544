# Table 6, row DRN-C-26, regular: top-1 75.1, top-5 92.4 (ILSVRC-2012 val).
# Table 9: the original DRN scheme, batch 192 (8 GPUs x 24), 120 epochs.
_base_ = [
    '../_base_/models/drn-c-26.py', '../_base_/datasets/imagenet.py',
    '../_base_/schedules/imagenet_bs192_drn-120e.py',
    '../_base_/default_runtime.py'
]
train_dataloader = dict(batch_size=24)
