# The showcase's FCN (the paper's regime, Tables 1-3: no context module), cut
# so that its dilated layers decide the receptive field: the stem and layer1
# of ResNetV1c-18 at a quarter width (16 channels), output stride 4, and an
# FCNHead of 1x1 convs only. layer1's 3x3 convs run at stride 4, so their
# dilation sets the receptive field against objects of 6-90 px: with
# `dilations=(d,)` (mmseg dilates the first conv of each BasicBlock) the
# network sees 47 px at d = 1, 63 px at 2, 95 px at 4; PAD layers in all four
# convs, drawing from 1, 2 and 4, reach up to 143 px. The deeper
# fcn_r18w16-os8_cpu.py sees over 200 px at dilation 1, so there the dilation
# hardly matters (docs/pad_layer.md, study 4).
_base_ = './fcn_r18w16-os8_cpu.py'
model = dict(
    backbone=dict(
        num_stages=1, out_indices=(0, ), strides=(1, ), dilations=(1, )),
    decode_head=dict(in_channels=16, in_index=0))
