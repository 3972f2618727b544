# Paper Table 2 (pattern aggregation), VGG-16+FCN-8s, Gated aggregation:
# 65.5 mIoU on VOC 2012 val. PAD in conv5 with dilations 1, 2, 4.
_base_ = '../fcn_vgg/fcn8s_pad-vgg16_1xb1-300k_voc12aug-500x500.py'
model = dict(backbone=dict(pad_cfg=dict(aggregation='gated')))
