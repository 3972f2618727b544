# Paper Table 4, DRN-D-54+DeepLabV3+, regular: 75.4 mIoU on VOC 2012 val.
# DeepLab's VOC scheme (Table 8): batch 8 (4 GPUs x 2), output stride 16.
_base_ = [
    '../_base_/models/deeplabv3plus_drn-d-54-d16.py',
    '../_base_/datasets/pascal_voc12_aug.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_30k.py'
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor, decode_head=dict(num_classes=21))
train_dataloader = dict(batch_size=2)
