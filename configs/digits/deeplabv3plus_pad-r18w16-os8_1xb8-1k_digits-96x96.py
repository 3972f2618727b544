# PAD model of the digits job (the main job until 2026-12-04): the same
# network with PAD (Markov, dilations (1, 2, 4) times the layer's own) in the
# 3x3 convs of layer4, tau annealed from 1.0 to 0.1.
_base_ = './deeplabv3plus_r18w16-os8_1xb8-1k_digits-96x96.py'
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
    # the per-layer dilation shares in the log and TensorBoard
    dict(type='DilationLoggerHook'),
]
