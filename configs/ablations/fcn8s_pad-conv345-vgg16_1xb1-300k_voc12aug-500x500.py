# Paper Table 1 (feature level), VGG-16+FCN-8s with PAD (Markov, dilations
# 1, 2, 4) in conv3, conv4 and conv5: 65.9 mIoU on VOC 2012 val.
_base_ = '../fcn_vgg/fcn8s_pad-vgg16_1xb1-300k_voc12aug-500x500.py'
model = dict(backbone=dict(stage_with_pad=(False, False, True, True, True)))
