# Paper Table 4, VGG-16+FCN-8s, regular: 64.7 mIoU on VOC 2012 val; the same
# model is the "backbone" row of Table 2 (VGG-16: 64.7) and the dilation-1-only
# row of Table 3 (64.7).
# FCN's protocol (Table 8): "at once", whole images (at most 500x500, no crop),
# batch 1, no augmentation; Adam (section 4.1).
_base_ = [
    '../_base_/models/fcn8s_vgg16.py',
    '../_base_/datasets/pascal_voc12_aug_fcn.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_adam_100k.py'
]
# FCN-8s "at once" reference solver: 300k iterations.
train_cfg = dict(max_iters=300000)
