"""A tiny PAD DeepLabV3+ (mmseg's ResNetV1c-50 with PAD through ``dcn=`` in
layer4, width 8), its vanilla twin, fabricated checkpoints and a tiny digits
dataset, shared by the tool and hook tests."""
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config

from helpers import REPO
from padseg.analysis import load_model
from digits_scenes import make_digits_voc
from padseg.datasets import DIGITS_METAINFO

RUNTIME = osp.join(REPO, 'configs', '_base_', 'default_runtime.py')
PAD_DCN = """,
        dcn=dict(type='PAD', dilations=(1, 2, 4), fallback_on_stride=False),
        stage_with_dcn=(False, False, False, True)"""
# self-contained apart from the runtime, so that the numbers the tests check
# (output stride 8, layer4 at dilation 4, 64x64 images) stay what they are
CONFIG = """_base_ = [{runtime!r}]
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
        seg_pad_val=255, size=(64, 64)),
    backbone=dict(
        type='ResNetV1c', depth=50, stem_channels=8, base_channels=8,
        num_stages=4, out_indices=(0, 1, 2, 3), dilations=(1, 1, 2, 4),
        strides=(1, 2, 1, 1), norm_cfg=norm_cfg, contract_dilation=True{pad}),
    decode_head=dict(
        type='DepthwiseSeparableASPPHead', in_channels=256, in_index=3,
        channels=16, dilations=(1, 2, 3, 4), c1_in_channels=32,
        c1_channels=8, dropout_ratio=0.1, num_classes=11, norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
dataset = dict(
    type='DigitsVOCDataset', data_root='data/digits_voc/VOC2012',
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
    pipeline=pipeline)
train_dataloader = dict(
    batch_size=2, num_workers=0, sampler=dict(type='InfiniteSampler'),
    dataset=dict(dataset, ann_file='ImageSets/Segmentation/train.txt'))
val_dataloader = dict(
    batch_size=1, num_workers=0, sampler=dict(type='DefaultSampler',
                                              shuffle=False),
    dataset=dict(dataset, ann_file='ImageSets/Segmentation/val.txt'))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=4, val_interval=100)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'))
crop_size = (64, 64)
"""
NUM_VAL = 4


@pytest.fixture(scope='session')
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp('analysis')
    ids = make_digits_voc(str(root / 'digits'), num_train=4, num_val=NUM_VAL,
                          image_size=(64, 64), seed=0)
    data_root = str(root / 'digits' / 'VOC2012')
    setup = SimpleNamespace(root=root, data_root=data_root, val_ids=ids['val'])
    setup.cfg_options = [
        f'{loader}.dataset.data_root={data_root}'
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    ]
    for name, pad in (('pad', PAD_DCN), ('vanilla', '')):
        config = root / f'{name}.py'
        config.write_text(CONFIG.format(runtime=RUNTIME, pad=pad))
        model = load_model(Config.fromfile(str(config)), None)
        model.init_weights()
        with torch.no_grad():  # a prior that depends on the content
            for module in model.modules():
                if hasattr(module, 'aggregation'):
                    module.aggregation.u_h.normal_(0, 1.0)
        checkpoint = root / f'{name}.pth'
        torch.save({'state_dict': model.state_dict(),
                    'meta': {'dataset_meta': dict(DIGITS_METAINFO)}},
                   str(checkpoint))
        setattr(setup, f'{name}_config', str(config))
        setattr(setup, f'{name}_checkpoint', str(checkpoint))
    return setup
