# Paper Table 4, VGG-16+FCN-8s, PAD: 66.5 mIoU on VOC 2012 val; the same model
# is Table 1 row conv5 (66.5), Table 2 VGG-16 Markov (66.5) and Table 3
# dilations 1, 2, 4 (66.5).
# PAD (Markov, dilations 1, 2, 4) in conv5_1..conv5_3 (Table 8), the
# Gumbel-softmax temperature annealed from 1.0 to 0.1.
_base_ = './fcn8s_vgg16_1xb1-300k_voc12aug-500x500.py'
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
