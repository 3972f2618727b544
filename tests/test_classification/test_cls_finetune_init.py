"""The fine-grained configs initialise from ImageNet checkpoints in the public
layouts their URLs name; for PAD only PAD's own weights are missing."""
import logging
import uuid

import pytest
import torch
from helpers.cls_configs import load
from helpers.checkpoint_log import logged_keys
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

from padseg.models.backbones.drn import DRN
from padseg.ops import pad_layers

CONFIG = '{folder}/{pad}{model}_8xb8-120e_stanford-cars-448px.py'
#: A PAD layer in each model, to check it starts from the checkpoint's weight.
PAD_LAYER = {
    'resnet50': 'layer2.1.conv2',
    'drn-c-26': 'layer7.0.conv1',
    'mobilenet-v2': 'layer3.1.conv.1.conv',
}
# every key of the public checkpoints loads (mmpretrain's MobileNetV2 has
# the final 1x1 conv to 1280 channels, conv2, that mmseg's lacks)
UNEXPECTED = {}


def randomised(state_dict: dict) -> dict:
    """The same keys and shapes with random floating-point values."""
    return {key: torch.randn_like(value) if value.is_floating_point() else
            value for key, value in state_dict.items()}


def public_checkpoint(model: str) -> dict:
    """A fabricated ImageNet checkpoint with the key layout of the public one:
    mmpretrain's classifiers (``backbone.*``, ``head.fc.*``) for ResNet-50 and
    MobileNetV2, fyu/drn's plain state dict (with its 1x1 conv ``fc``) for
    DRN-C-26."""
    if model == 'drn-c-26':
        state_dict = DRN(arch='C', depth=26).state_dict()
        state_dict.update({'fc.weight': torch.zeros(1000, 512, 1, 1),
                           'fc.bias': torch.zeros(1000)})
        return randomised(state_dict)
    backbone = dict(type='ResNet', depth=50, out_indices=(3, ),
                    style='pytorch') if model == 'resnet50' else dict(
                        type='MobileNetV2', widen_factor=1.0)
    # mmpretrain's scope, whatever scope an earlier test left current
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        classifier = MODELS.build(
            dict(type='ImageClassifier', backbone=backbone,
                 neck=dict(type='GlobalAveragePooling'),
                 head=dict(type='LinearClsHead', num_classes=1000,
                           in_channels=2048 if model == 'resnet50' else
                           1280)))
    return dict(meta=dict(), state_dict=randomised(classifier.state_dict()))


class Messages(logging.Handler):

    def __init__(self):
        super().__init__()
        self.text = []

    def emit(self, record):
        self.text.append(record.getMessage())

    def keys(self, kind: str) -> set:
        """Keys that the checkpoint load reported as ``kind``."""
        return set(logged_keys(self.text, kind))


@pytest.mark.parametrize('pad', [True, False])
@pytest.mark.parametrize('model,folder', [('resnet50', 'resnet'),
                                          ('drn-c-26', 'drn'),
                                          ('mobilenet-v2', 'mobilenet_v2')])
def test_fine_grained_config_loads_imagenet_checkpoint(tmp_path, model,
                                                       folder, pad):
    checkpoint = public_checkpoint(model)
    path = str(tmp_path / 'imagenet.pth')
    torch.save(checkpoint, path)
    cfg = load(CONFIG.format(folder=folder, pad='pad-' if pad else '',
                             model=model))
    init_cfg = cfg.model.backbone.init_cfg
    prefix = init_cfg.get('prefix')
    assert (prefix == 'backbone') == (model != 'drn-c-26')
    init_cfg.checkpoint = path
    classifier = MODELS.build(cfg.model)

    messages = Messages()
    logger = MMLogger.get_instance(f'finetune-{uuid.uuid4().hex}')
    logger.addHandler(messages)
    classifier.init_weights()
    logger.removeHandler(messages)

    backbone = classifier.backbone
    expected_missing = {
        f'{name}.aggregation.{param}'
        for name, layer in pad_layers(backbone)
        for param, _ in layer.aggregation.named_parameters()
    }
    assert bool(expected_missing) == pad
    assert messages.keys('missing') == expected_missing
    assert messages.keys('unexpected') == UNEXPECTED.get(model, set())
    # Loaded, PAD layers included (same key as the plain conv).
    source = checkpoint.get('state_dict', checkpoint)
    key = f'{PAD_LAYER[model]}.weight'
    loaded = backbone.state_dict()[key]
    assert torch.equal(loaded, source[f'{prefix}.{key}' if prefix else key])
