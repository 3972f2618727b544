# Paper Table 4, Xception+DeepLabV3+, regular: 73.5 mIoU on VOC 2012 val.
# DeepLab's VOC scheme (Table 8): batch 8 (4 GPUs x 2), output stride 16, no
# BN fine-tuning (frozen backbone BN, see the model base) and multi-scale
# testing: evaluate with `tools/test.py CONFIG CHECKPOINT --tta` (scales
# 0.5-1.75 and flips, tta_pipeline of the dataset base).
_base_ = [
    '../_base_/models/deeplabv3plus_xception65-d16.py',
    '../_base_/datasets/pascal_voc12_aug.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_30k.py'
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor, decode_head=dict(num_classes=21))
train_dataloader = dict(batch_size=2)
