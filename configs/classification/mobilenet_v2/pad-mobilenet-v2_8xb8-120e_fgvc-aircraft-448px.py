# Table 7, row MobileNetV2, FGVC-Aircraft, crop 448, PAD: top-1 87.6.
# Table 10: PAD (Markov aggregation, dilations 1, 2, 3) in the stage t=6,
# c=32, n=3, s=2 (layer3), fine-tuned from the same ImageNet weights (PAD's
# own weights start from their initial values).
_base_ = './mobilenet-v2_8xb8-120e_fgvc-aircraft-448px.py'
model = dict(
    backbone=dict(
        type='PADMobileNetV2',
        stage_with_pad=(False, False, True, False, False, False, False),
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
