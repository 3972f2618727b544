# Paper Table 2 (pattern aggregation), ResNet-101+DeepLabV3+, Recurrent
# aggregation: 75.6 mIoU on VOC 2012 val. PAD in layer4 with dilations 1, 2, 4.
_base_ = '../deeplabv3plus/deeplabv3plus_pad-r101-d16_4xb2-30k_voc12aug-512x512.py'
model = dict(backbone=dict(pad_cfg=dict(aggregation='recurrent')))
