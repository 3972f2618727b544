# PAD twin of the shapes network: PAD (Markov, dilations (1, 2, 4)) in the
# 3x3 convs of layer4, as the digits' PAD model.
_base_ = './deeplabv3plus_r18w16-os8_1xb8-1k_shapes-96x96.py'
model = dict(
    backbone=dict(
        type='PADResNetV1c',
        stage_with_pad=(False, False, False, True),
        # prior_init='base' (the default, written out): each PAD layer starts
        # as the conv it replaces (a pretrained network is intact at step 0);
        # over seeds no other start did better (docs/pad_layer.md).
        pad_cfg=dict(
            dilations=(1, 2, 4),
            aggregation='markov',
            prior_init='base',
            # the prior's speed its studies measured (1-4 in
            # docs/pad_layer.md); the layer's default is 10 since study 6
            prior_gain=1.0)))
custom_hooks = [
    dict(type='TauAnnealingHook', start=1.0, end=0.1, schedule='exponential'),
    dict(type='DilationLoggerHook'),
]
