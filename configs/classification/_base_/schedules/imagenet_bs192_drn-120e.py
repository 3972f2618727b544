# "DRN ImageNet training scheme with 192 batch size and 120 epochs" (Table 9,
# ResNet-50 and DRN-C-26): fyu/drn classify.py, SGD with momentum 0.9, weight
# decay 1e-4, lr 0.1 divided by 10 every 30 epochs.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(
    type='MultiStepLR', by_epoch=True, milestones=[30, 60, 90], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=120, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=192)
