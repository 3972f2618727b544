# "The setting follows that of DLA reported in Yu et al. (2018)" (Table 10):
# fine-tuning from ImageNet weights with ucbdrive/dla classify.py, i.e. its
# ImageNet recipe (SGD, momentum 0.9, weight decay 1e-4, lr divided by 10
# every 30 epochs, 120 epochs) with the fine-tuning lr 0.01. The batch size
# is not stated in either paper; we use 64 (8 GPUs x 8), which fits 448 crops.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(
    type='MultiStepLR', by_epoch=True, milestones=[30, 60, 90], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=120, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)
