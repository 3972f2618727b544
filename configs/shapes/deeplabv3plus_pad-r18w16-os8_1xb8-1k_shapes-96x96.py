# PAD twin of the shapes network: PAD (Markov, dilations (1, 2, 4)) in the
# 3x3 convs of layer4, as the digits' PAD model.
_base_ = './deeplabv3plus_r18w16-os8_1xb8-1k_shapes-96x96.py'
model = dict(
    backbone=dict(
        type='PADResNetV1c',
        stage_with_pad=(False, False, False, True),
        pad_cfg=dict(dilations=(1, 2, 4), aggregation='markov')))
custom_hooks = [
    dict(type='TauAnnealingHook', start=1.0, end=0.1, schedule='exponential'),
    dict(type='DilationLoggerHook'),
]
