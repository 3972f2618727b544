# Embedded classification run, regular: a quarter-width ResNet-18 on the
# digits classification dataset (64x64, 10 classes), a few minutes on a CPU.
# No paper number: docs/classification.md lists what we measured.
_base_ = [
    '../_base_/models/resnet18-w16_digits.py',
    '../_base_/datasets/digits_cls.py', '../_base_/schedules/digits_cls.py',
    '../_base_/default_runtime.py'
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='SafeCheckpointHook', interval=5, max_keep_ckpts=1))
randomness = dict(seed=0)
