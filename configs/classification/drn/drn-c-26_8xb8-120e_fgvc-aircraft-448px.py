# Table 7, row DRN-C-26, FGVC-Aircraft, crop 448, regular: top-1 86.8.
# Table 10: fine-tuned from ImageNet with the DLA scheme, batch 64 (8 x 8).
_base_ = [
    '../_base_/models/drn-c-26.py',
    '../_base_/datasets/fgvc_aircraft_448.py',
    '../_base_/schedules/fine-grained_bs64_dla-120e.py',
    '../_base_/default_runtime.py'
]
# ImageNet weights: the reference DRN-C-26 of fyu/drn (75.1 top-1); its
# classifier ``fc`` is dropped by the backbone.
pretrained = 'http://dl.yf.io/drn/drn_c_26-ddedf421.pth'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    head=dict(num_classes=100))
