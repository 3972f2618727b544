# Paper Table 4, ResNet-101+DeepLabV3+, regular: 75.1 mIoU on VOC 2012 val;
# the same model is the "backbone" row of Table 2 (ResNet-101: 75.1).
# DeepLab's VOC scheme (Table 8): batch 8 (4 GPUs x 2), output stride 16.
_base_ = [
    '../_base_/models/deeplabv3plus_r101-d16.py',
    '../_base_/datasets/pascal_voc12_aug.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_30k.py'
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor, decode_head=dict(num_classes=21))
train_dataloader = dict(batch_size=2)
