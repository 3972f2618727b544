# Paper Table 4, VGG-16+FCN-32s, PAD: 65.1 mIoU on VOC 2012 val.
# PAD (Markov, dilations 1, 2, 4) in conv5_1..conv5_3 (Table 8), the
# Gumbel-softmax temperature annealed from 1.0 to 0.1.
_base_ = './fcn32s_vgg16_1xb1-100k_voc12aug-500x500.py'
model = dict(
    backbone=dict(
        type='PADVGG',
        stage_with_pad=(False, False, False, False, True),
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
