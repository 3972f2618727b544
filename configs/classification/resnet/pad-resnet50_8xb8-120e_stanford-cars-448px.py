# Table 7, row ResNet-50, Stanford Cars, crop 448, PAD: top-1 93.5.
# Table 10: PAD (Markov aggregation, dilations 1, 2, 3) in the last three
# 3x3 convs of layer2, fine-tuned from the same ImageNet weights (PAD's own
# weights start from their initial values).
_base_ = './resnet50_8xb8-120e_stanford-cars-448px.py'
model = dict(
    backbone=dict(
        type='PADResNet',
        stage_with_pad=(False, True, False, False),
        # prior_init='base' (the default, written out): each PAD layer starts
        # as the conv it replaces (a pretrained network is intact at step 0);
        # over seeds no other start did better (docs/pad_layer.md).
        pad_cfg=dict(
            dilations=(1, 2, 3),
            aggregation='markov',
            prior_init='base')))
custom_hooks = [
    dict(type='TauAnnealingHook', start=1.0, end=0.1, schedule='exponential'),
    # the per-layer dilation shares in the log and TensorBoard
    dict(type='DilationLoggerHook'),
]
