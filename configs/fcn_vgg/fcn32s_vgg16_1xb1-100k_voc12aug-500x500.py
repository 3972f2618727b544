# Paper Table 4, VGG-16+FCN-32s, regular: 62.8 mIoU on VOC 2012 val.
# FCN's protocol (Table 8): whole images (at most 500x500, no crop), batch 1,
# no augmentation; Adam (section 4.1).
_base_ = [
    '../_base_/models/fcn32s_vgg16.py',
    '../_base_/datasets/pascal_voc12_aug_fcn.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_adam_100k.py'
]
