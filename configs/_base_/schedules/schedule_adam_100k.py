# FCN's schedule with Adam (paper, section 4.1: "All the models will be
# optimized via Adam"): batch 1, 100k iterations (FCN-32s's reference solver;
# FCN-8s "at once" runs 300k), fixed learning rate, weight decay 5e-4 as in
# FCN. The learning rate is ours: the paper names only the optimizer.
optimizer = dict(type='Adam', lr=1e-5, betas=(0.9, 0.999), weight_decay=5e-4)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer, clip_grad=None)
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=100000, val_interval=4000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    finite_loss=dict(type='FiniteLossHook'),
    unreadable_files=dict(type='UnreadableFilesHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='SafeCheckpointHook', by_epoch=False, interval=4000,
        max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
