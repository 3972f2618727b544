# Table 7, row DRN-C-26, Stanford Cars, crop 224, PAD: top-1 91.4.
# Table 10: PAD (Markov aggregation, dilations 1, 2, 3) in layer7 and layer8,
# fine-tuned from the same ImageNet weights (PAD's own weights start from
# their initial values).
_base_ = './drn-c-26_8xb8-120e_stanford-cars-224px.py'
model = dict(
    backbone=dict(
        type='PADDRN',
        stage_with_pad=(False, False, False, False, False, False, True,
                        True),
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
