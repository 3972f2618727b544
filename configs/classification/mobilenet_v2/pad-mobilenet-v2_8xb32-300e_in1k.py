# Table 6, row MobileNetV2, PAD: top-1 72.6, top-5 90.8 (ILSVRC-2012 val).
# Table 9: PAD (Markov aggregation, dilations 1, 2, 4) in the stage t=6, c=32,
# n=3, s=2 (layer3: the depthwise convs of its two stride-1 blocks).
_base_ = './mobilenet-v2_8xb32-300e_in1k.py'
model = dict(
    backbone=dict(
        type='PADMobileNetV2',
        stage_with_pad=(False, False, True, False, False, False, False),
        # prior_init='base' (the default, written out): each PAD layer starts
        # as the conv it replaces (a pretrained network is intact at step 0);
        # over seeds no other start did better (docs/pad_layer.md).
        pad_cfg=dict(
            dilations=(1, 2, 4),
            aggregation='markov',
            prior_init='base')))
custom_hooks = [
    dict(type='TauAnnealingHook', start=1.0, end=0.1, schedule='exponential'),
    # the per-layer dilation shares in the log and TensorBoard
    dict(type='DilationLoggerHook'),
]
