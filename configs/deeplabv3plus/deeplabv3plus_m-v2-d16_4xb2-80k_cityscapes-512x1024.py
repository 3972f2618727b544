# Paper Table 5, MobileNetV2+DeepLabV3+, regular: 70.3 mIoU on Cityscapes val.
# Table 8's scheme: batch 8 (4 GPUs x 2), output stride 16, no BN fine-tuning
# (frozen backbone BN, see the model base) and multi-scale testing: evaluate
# with `tools/test.py CONFIG CHECKPOINT --tta` (scales 0.5-1.75 and flips,
# tta_pipeline of the dataset base).
_base_ = [
    '../_base_/models/deeplabv3plus_m-v2-d16.py',
    '../_base_/datasets/cityscapes.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_80k.py'
]
crop_size = (512, 1024)
data_preprocessor = dict(size=crop_size)
model = dict(data_preprocessor=data_preprocessor)
