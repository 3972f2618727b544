# The main job's PAD model on the nested rings: the regular network with PAD
# (Markov, candidate dilations 1, 2, 4) in the four 3x3 convs of layer1, the
# layers that set its receptive field (as conv5 in the paper's FCN-8s,
# Tables 1-3), with the layer's defaults; tau annealed from 1.0 to 0.1;
# dilation shares, entropy and the prior's gradient logged.
_base_ = './fcn_r18w16-layer1_1xb8-1k_nested-96x96.py'
model = dict(
    backbone=dict(
        type='PADResNetV1c',
        stage_with_pad=(True, ),
        pad_cfg=dict(dilations=(1, 2, 4), aggregation='markov')))
custom_hooks = [
    dict(type='TauAnnealingHook', start=1.0, end=0.1, schedule='exponential'),
    dict(type='DilationLoggerHook'),
]
