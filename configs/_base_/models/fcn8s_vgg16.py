# FCN-8s (Long et al. 2015) on VGG-16, the "at once" form the paper trains
# (Table 8): pool3, pool4 and fc7 are scored, pool4/pool3 scaled by 0.01/1e-4,
# fused after two learnable x2 deconvolutions, upsampled x8 (fixed bilinear)
# and cropped to the image. ImageNet weights: torchvision's vgg16.
_base_ = './fcn32s_vgg16.py'
model = dict(
    backbone=dict(out_indices=(2, 3, 5)),  # pool3, pool4, fc7
    decode_head=dict(
        _delete_=True,
        type='FCN8sHead',
        in_channels=(256, 512, 4096),
        in_index=(0, 1, 2),
        at_once=True,
        input_padding=100,
        num_classes=21,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
