# Regular baseline of the digits job (the main job until 2026-12-04):
# ResNetV1c-18 (1/4 width) + DeepLabV3+ on the embedded digits dataset. No
# paper number: see docs/main_job.md for the figures we measured.
_base_ = [
    '../_base_/models/deeplabv3plus_r18w16-os8_digits.py',
    '../_base_/datasets/digits_voc.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_digits.py'
]
randomness = dict(seed=0)
