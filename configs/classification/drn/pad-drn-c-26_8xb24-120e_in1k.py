# Table 6, row DRN-C-26, PAD: top-1 75.9, top-5 92.6 (ILSVRC-2012 val).
# Table 9: PAD (Markov aggregation, dilations 1, 2, 4) in layer8.
_base_ = './drn-c-26_8xb24-120e_in1k.py'
model = dict(
    backbone=dict(
        type='PADDRN',
        stage_with_pad=(False, False, False, False, False, False, False,
                        True),
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
