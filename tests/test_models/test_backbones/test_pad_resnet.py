import pytest
import torch
from mmengine.registry import DefaultScope
import torchvision
from mmpretrain.models.backbones import ResNet as MMPretrainResNet
from mmpretrain.registry import MODELS as CLS_MODELS
from mmseg.models.backbones import ResNet, ResNetV1c
from mmseg.models.backbones.resnet import Bottleneck
from mmseg.registry import MODELS as SEG_MODELS
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from helpers.checkpoint_log import aggregation_keys, logged_keys
from padseg.models.backbones.resnet import PADResNet, PADResNetV1c
from padseg.ops import PADConv2d, pad_layers

from helpers.backbones import (assert_loaded, assert_output_shapes,
                    assert_pad_off_is_vanilla, assert_starts_as_vanilla,
                    assert_training_step_reaches_every_parameter, pad_names)

# mmseg's settings per output stride (DeepLabV3+ uses 16, PSPNet-style 8).
OUTPUT_STRIDES = {
    32: dict(strides=(1, 2, 2, 2), dilations=(1, 1, 1, 1)),
    16: dict(strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2)),
    8: dict(strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4)),
}
CHANNELS = (256, 512, 1024, 2048)
CLASSIFICATION = (False, True, False, False)
NO_PAD = (False, ) * 4
PAIRS = [(ResNet, PADResNet), (ResNetV1c, PADResNetV1c)]
LAYER2_PAD = ['layer2.1.conv2', 'layer2.2.conv2', 'layer2.3.conv2']
LAYER4_PAD = ['layer4.0.conv2', 'layer4.1.conv2', 'layer4.2.conv2']


def test_registered_in_mmseg_and_mmpretrain():
    for cls in (PADResNet, PADResNetV1c):
        assert SEG_MODELS.get(cls.__name__) is cls
        assert CLS_MODELS.get(cls.__name__) is cls
    assert issubclass(PADResNetV1c, ResNetV1c)


def test_default_placement_resnet101():
    model = PADResNet(depth=101, **OUTPUT_STRIDES[16])
    assert pad_names(model) == LAYER4_PAD
    for _, layer in pad_layers(model):
        assert layer.dilation == (2, 2)
        assert layer.candidate_dilations == [(2, 2), (4, 4), (8, 8)]
        assert type(layer.aggregation).__name__ == 'MarkovAggregation'
    # With mmseg's default strides layer4.0.conv2 is strided: stays plain.
    model = PADResNet(depth=101)
    assert pad_names(model) == LAYER4_PAD[1:]
    assert type(model.layer4[0].conv2) is nn.Conv2d
    assert model.layer4[0].conv2.stride == (2, 2)


@pytest.mark.parametrize('cls', [PADResNet, PADResNetV1c])
def test_classification_placement_resnet50(cls):
    model = cls(depth=50, stage_with_pad=CLASSIFICATION)
    assert pad_names(model) == LAYER2_PAD
    assert type(model.layer2[0].conv2) is nn.Conv2d
    assert model.layer2[0].conv2.stride == (2, 2)


def test_basic_block_placement():
    model = PADResNet(depth=18, stage_with_pad=CLASSIFICATION)
    # layer2.0.conv1 is strided; BasicBlock's other 3x3 convs become PAD.
    assert pad_names(model) == [
        'layer2.0.conv2', 'layer2.1.conv1', 'layer2.1.conv2'
    ]


@pytest.mark.parametrize('output_stride', [32, 16, 8])
@pytest.mark.parametrize('cls', [PADResNet, PADResNetV1c])
def test_output_channels_and_strides(cls, output_stride):
    model = cls(depth=50, **OUTPUT_STRIDES[output_stride])
    assert_output_shapes(model, 64, CHANNELS,
                         [min(s, output_stride) for s in (4, 8, 16, 32)])


@pytest.mark.parametrize('vanilla_cls,pad_cls', PAIRS)
def test_pad_off_equals_vanilla(vanilla_cls, pad_cls):
    vanilla = vanilla_cls(depth=50, **OUTPUT_STRIDES[8])
    model = pad_cls(depth=50, stage_with_pad=NO_PAD, **OUTPUT_STRIDES[8])
    assert_pad_off_is_vanilla(vanilla, model, torch.rand(1, 3, 32, 32))


@pytest.mark.parametrize('vanilla_cls,pad_cls', PAIRS)
def test_fresh_pad_net_equals_vanilla_in_eval(vanilla_cls, pad_cls):
    """At start-up the aggregation prefers the base dilation: with the
    vanilla weights and argmax inference the PAD net is the vanilla net."""
    vanilla = vanilla_cls(depth=50, **OUTPUT_STRIDES[16])
    model = pad_cls(depth=50, **OUTPUT_STRIDES[16])
    assert_starts_as_vanilla(vanilla, model, torch.rand(1, 3, 64, 64),
                             aggregation_keys(LAYER4_PAD))


def test_frozen_stages_and_norm_eval():
    model = PADResNet(
        depth=50,
        stage_with_pad=(False, True, False, True),
        frozen_stages=2,
        norm_eval=True)
    # Frozen right after construction, the new PAD layers included.
    for name, param in model.named_parameters():
        frozen = name.startswith(('conv1', 'bn1', 'layer1', 'layer2'))
        assert param.requires_grad is not frozen, name
    model.train()
    for name in ('layer1', 'layer2'):
        assert not any(m.training for m in getattr(model, name).modules())
    assert all(layer.training for name, layer in pad_layers(model)
               if name.startswith('layer4'))
    assert not any(m.training for m in model.modules()
                   if isinstance(m, _BatchNorm))


@pytest.mark.parametrize('aggregation', ['markov', 'recurrent', 'gated'])
@pytest.mark.parametrize('cls', [PADResNet, PADResNetV1c])
def test_training_step_reaches_every_parameter(cls, aggregation):
    model = cls(
        depth=50,
        stage_with_pad=(False, True, False, True),
        pad_cfg=dict(dilations=(1, 2, 4), aggregation=aggregation),
        **OUTPUT_STRIDES[16])
    # 64 px: layer4 is 4x4, where the candidate dilations 2, 4, 8 differ.
    assert_training_step_reaches_every_parameter(model,
                                                 torch.rand(2, 3, 64, 64))
    layers = [layer for _, layer in pad_layers(model)]
    assert len(layers) == 6
    if aggregation != 'markov':
        # The chain carries layer2's prior into layer4: W_h of the last PAD
        # layer sees a non-zero prior and so gets a non-zero gradient.
        assert layers[-1].aggregation.w_h.grad.abs().sum() > 1e-6


def test_loads_torchvision_checkpoint(tmp_path, log_records):
    state_dict = torchvision.models.resnet50(weights=None).state_dict()
    path = tmp_path / 'resnet50-torchvision.pth'
    torch.save(state_dict, path)
    model = PADResNet(
        depth=50,
        stage_with_pad=CLASSIFICATION,
        init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    assert_loaded(model, state_dict, skip=('fc.', ))
    assert logged_keys(log_records, 'missing') == aggregation_keys(LAYER2_PAD)
    assert logged_keys(log_records, 'unexpected') == ['fc.weight', 'fc.bias']


def test_loads_open_mmlab_v1c_checkpoint(tmp_path, log_records):
    # open-mmlab's resnet50_v1c layout: mmseg's ResNetV1c keys (stem.0, ...)
    # plus the ImageNet classifier fc.
    state_dict = ResNetV1c(depth=50).state_dict()
    state_dict.update({'fc.weight': torch.rand(1000, 2048),
                       'fc.bias': torch.rand(1000)})
    path = tmp_path / 'resnet50_v1c.pth'
    torch.save(state_dict, path)
    model = PADResNetV1c(
        depth=50,
        **OUTPUT_STRIDES[16],
        init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    assert_loaded(model, state_dict, skip=('fc.', ))
    assert 'stem.0.weight' in state_dict
    assert logged_keys(log_records, 'missing') == aggregation_keys(LAYER4_PAD)
    assert logged_keys(log_records, 'unexpected') == ['fc.weight', 'fc.bias']


def test_mmpretrain_classifier_checkpoint(tmp_path, log_records):
    backbone = MMPretrainResNet(depth=50).state_dict()
    state_dict = {f'backbone.{k}': v for k, v in backbone.items()}
    state_dict.update({'head.fc.weight': torch.rand(10, 2048),
                       'head.fc.bias': torch.rand(10)})
    path = tmp_path / 'resnet50_8xb32_in1k.pth'
    torch.save({'state_dict': state_dict, 'meta': {'epoch': 100}}, path)
    # build as mmpretrain's tools do, whatever scope an earlier test left
    DefaultScope.get_instance('pad_resnet_cls_test', scope_name='mmpretrain')
    classifier = CLS_MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='PADResNet',
                depth=50,
                stage_with_pad=CLASSIFICATION,
                init_cfg=dict(
                    type='Pretrained',
                    checkpoint=str(path),
                    prefix='backbone.')),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=10,
                      in_channels=2048)))
    assert isinstance(classifier.backbone, PADResNet)
    classifier.init_weights()
    assert_loaded(classifier.backbone, backbone)
    assert logged_keys(log_records, 'missing') == aggregation_keys(LAYER2_PAD)
    assert logged_keys(log_records, 'unexpected') == []
    classifier.eval()
    with torch.no_grad():
        assert classifier(torch.rand(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize('kwargs,match', [
    (dict(stage_with_pad=(False, False, True)), 'stage_with_pad'),
    (dict(stage_with_pad=(0, 0, 0, 1)), 'stage_with_pad'),
    (dict(stage_with_pad=(False, False, False, True, True)), 'stage_with_pad'),
    (dict(pad_cfg='markov'), 'pad_cfg'),
    (dict(pad_cfg=dict(dilations=(1, 1))), 'dilations'),
    (dict(with_cp=True, pad_cfg=dict(aggregation='recurrent')), 'with_cp'),
])
def test_wrong_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PADResNet(depth=18, **kwargs)


def test_stage_without_stride1_conv_raises():

    class OneBlockResNet(PADResNet):
        arch_settings = {14: (Bottleneck, (1, 1, 1, 1))}

    # layer2's only block has a strided conv2: nothing for PAD there.
    with pytest.raises(ValueError, match=r'stage_with_pad\[1\]'):
        OneBlockResNet(depth=14, stage_with_pad=CLASSIFICATION)
    model = OneBlockResNet(depth=14, stage_with_pad=(True, ) + (False, ) * 3)
    assert pad_names(model) == ['layer1.0.conv2']


def test_dcn_and_pad_compete_for_conv2():
    dcn = dict(type='DCNv2', deform_groups=1, fallback_on_stride=False)
    with pytest.raises(ValueError, match='stage_with_dcn'):
        PADResNet(depth=50, dcn=dict(dcn),
                  stage_with_dcn=(False, False, False, True))
    # On different stages both work.
    model = PADResNet(depth=50, dcn=dict(dcn),
                      stage_with_dcn=(False, False, True, False),
                      **OUTPUT_STRIDES[16])
    assert pad_names(model) == LAYER4_PAD
    assert type(model.layer3[0].conv2).__name__ == 'ModulatedDeformConv2dPack'
    assert isinstance(model.layer4[0].conv2, PADConv2d)
