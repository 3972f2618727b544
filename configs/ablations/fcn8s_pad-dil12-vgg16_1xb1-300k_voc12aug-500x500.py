# Paper Table 3 (dilation options), VGG-16+FCN-8s with PAD in conv5 choosing
# among dilations 1 and 2 (Markov): 66.2 mIoU on VOC 2012 val.
_base_ = '../fcn_vgg/fcn8s_pad-vgg16_1xb1-300k_voc12aug-500x500.py'
model = dict(backbone=dict(pad_cfg=dict(dilations=(1, 2))))
