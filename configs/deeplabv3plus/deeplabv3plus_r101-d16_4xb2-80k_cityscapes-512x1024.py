# Paper Table 5, ResNet-101+DeepLabV3+, regular: 80.1 mIoU on Cityscapes val.
# Table 8's scheme: batch 8 (4 GPUs x 2), output stride 16.
_base_ = [
    '../_base_/models/deeplabv3plus_r101-d16.py',
    '../_base_/datasets/cityscapes.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_80k.py'
]
crop_size = (512, 1024)
data_preprocessor = dict(size=crop_size)
model = dict(data_preprocessor=data_preprocessor)
