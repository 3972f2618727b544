# Table 6, row ResNet-50, PAD: top-1 76.9, top-5 93.4 (ILSVRC-2012 val).
# Table 9: PAD (Markov aggregation, dilations 1, 2, 4) in the last three 3x3
# convs of layer2 (conv2 of layer2.1-3; layer2.0's is strided and stays plain).
_base_ = './resnet50_8xb24-120e_in1k.py'
model = dict(
    backbone=dict(
        type='PADResNet',
        stage_with_pad=(False, True, False, False),
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
