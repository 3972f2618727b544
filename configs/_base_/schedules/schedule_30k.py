# DeepLab's Pascal VOC 2012 schedule (paper, Table 8: "deeplab VOC-2012
# training scheme"): SGD with momentum 0.9, learning rate 0.007 decayed by
# poly (power 0.9), weight decay 4e-5, 30k iterations. Table 8 fixes the batch
# at 8 (the experiment configs: 4 GPUs x 2 images). Section 4.1 says Adam
# for all models; for DeepLab we follow Table 8's more specific scheme, which
# is SGD.
optimizer = dict(type='SGD', lr=0.007, momentum=0.9, weight_decay=4e-5)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer, clip_grad=None)
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0.,
        power=0.9,
        begin=0,
        end=30000,
        by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=30000, val_interval=3000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    finite_loss=dict(type='FiniteLossHook'),
    unreadable_files=dict(type='UnreadableFilesHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=False, interval=3000),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
