# Table 6, row MobileNetV2, regular: top-1 71.8, top-5 91.0 (ILSVRC-2012 val).
# Table 9: Sandler et al.'s 1.0-224 setting, batch 256 (8 GPUs x 32), 300
# epochs (see the schedule for the optimizer we use).
_base_ = [
    '../_base_/models/mobilenet-v2_1x.py', '../_base_/datasets/imagenet.py',
    '../_base_/schedules/imagenet_bs256_mobilenet-v2-300e.py',
    '../_base_/default_runtime.py'
]
train_dataloader = dict(batch_size=32)
