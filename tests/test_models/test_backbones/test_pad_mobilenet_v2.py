import runpy
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from mmpretrain.models.backbones import MobileNetV2 as MMPretrainMobileNetV2
from mmpretrain.registry import MODELS as CLS_MODELS
from mmseg.models.backbones import MobileNetV2
from mmseg.registry import MODELS as SEG_MODELS
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from helpers.checkpoint_log import aggregation_keys, logged_keys
from padseg.models.backbones.mobilenet_v2 import (
    PADMobileNetV2, convert_torchvision_mobilenet_v2,
    is_torchvision_mobilenet_v2)
from padseg.ops import pad_layers

from helpers.backbones import (assert_loaded, assert_output_shapes,
                    assert_pad_off_is_vanilla, assert_starts_as_vanilla,
                    assert_training_step_reaches_every_parameter, pad_names)

CONVERTER = (Path(__file__).parents[3] / 'tools' / 'model_converters' /
             'mobilenetv2_torchvision2padseg.py')
# mmseg's settings per output stride; 8 is the DeepLabV3+ Cityscapes one.
OUTPUT_STRIDES = {
    32: dict(strides=(1, 2, 2, 2, 1, 2, 1), dilations=(1, ) * 7),
    16: dict(strides=(1, 2, 2, 2, 1, 1, 1), dilations=(1, 1, 1, 1, 1, 2, 2)),
    8: dict(strides=(1, 2, 2, 1, 1, 1, 1), dilations=(1, 1, 1, 2, 2, 4, 4)),
}
CLASSIFICATION = (False, False, True, False, False, False, False)
NO_PAD = (False, ) * 7
SEGMENTATION_PAD = ['layer6.0.conv.1.conv', 'layer6.1.conv.1.conv',
                    'layer6.2.conv.1.conv', 'layer7.0.conv.1.conv']
CLASSIFICATION_PAD = ['layer3.1.conv.1.conv', 'layer3.2.conv.1.conv']
CONV2_KEYS = ['conv2.conv.weight', 'conv2.bn.weight', 'conv2.bn.bias',
              'conv2.bn.running_mean', 'conv2.bn.running_var',
              'conv2.bn.num_batches_tracked']


def torchvision_state_dict():
    """torchvision's MobileNetV2 with random BN statistics and affine
    parameters, so that a wrong key mapping cannot go unnoticed."""
    model = torchvision.models.mobilenet_v2(weights=None)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)
    return model


def test_registered_in_mmseg_and_mmpretrain():
    """Each scope's PADMobileNetV2 extends that scope's MobileNetV2."""
    from padseg.models.backbones import PADMobileNetV2Classifier
    assert SEG_MODELS.get('PADMobileNetV2') is PADMobileNetV2
    assert CLS_MODELS.get('PADMobileNetV2') is PADMobileNetV2Classifier
    assert issubclass(PADMobileNetV2, SEG_MODELS.get('MobileNetV2'))
    assert issubclass(PADMobileNetV2Classifier, CLS_MODELS.get('MobileNetV2'))


def test_default_placement():
    model = PADMobileNetV2(**OUTPUT_STRIDES[8])
    assert pad_names(model) == SEGMENTATION_PAD
    candidates = {name: layer.candidate_dilations
                  for name, layer in pad_layers(model)}
    # mmseg dilates the first block of a stage only.
    wide, base = [(4, 4), (8, 8), (16, 16)], [(1, 1), (2, 2), (4, 4)]
    assert list(candidates.values()) == [wide, base, base, wide]
    for _, layer in pad_layers(model):
        assert layer.groups == layer.in_channels == layer.out_channels
    # With the classification strides layer6.0's depthwise conv is strided.
    model = PADMobileNetV2()
    assert pad_names(model) == SEGMENTATION_PAD[1:]
    assert type(model.layer6[0].conv[1].conv) is nn.Conv2d


def test_classification_placement():
    model = PADMobileNetV2(stage_with_pad=CLASSIFICATION)
    assert pad_names(model) == CLASSIFICATION_PAD
    assert model.layer3[0].conv[1].conv.stride == (2, 2)


def test_first_stage_without_expansion():
    # t = 1: the depthwise conv is the block's first ConvModule.
    model = PADMobileNetV2(stage_with_pad=(True, ) + (False, ) * 6)
    assert pad_names(model) == ['layer1.0.conv.0.conv']


@pytest.mark.parametrize('output_stride', [32, 16, 8])
def test_output_channels_and_strides(output_stride):
    model = PADMobileNetV2(**OUTPUT_STRIDES[output_stride])
    assert_output_shapes(model, 64, (24, 32, 96, 320),
                         [min(s, output_stride) for s in (4, 8, 16, 32)])


def test_widen_factor():
    model = PADMobileNetV2(widen_factor=0.5, out_indices=(6, ))
    model.eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 32, 32))
    assert out.shape == (1, 160, 1, 1)
    assert len(pad_names(model)) == 3


def test_pad_off_equals_vanilla():
    vanilla = MobileNetV2(**OUTPUT_STRIDES[8])
    model = PADMobileNetV2(stage_with_pad=NO_PAD, **OUTPUT_STRIDES[8])
    assert_pad_off_is_vanilla(vanilla, model, torch.rand(1, 3, 32, 32))


def test_fresh_pad_net_equals_vanilla_in_eval():
    vanilla = MobileNetV2(**OUTPUT_STRIDES[8])
    model = PADMobileNetV2(**OUTPUT_STRIDES[8])
    assert_starts_as_vanilla(vanilla, model, torch.rand(1, 3, 64, 64),
                             aggregation_keys(SEGMENTATION_PAD))


def test_frozen_stages_and_norm_eval():
    # mmseg: frozen_stages=k freezes conv1 and layer1 ... layer<k>.
    model = PADMobileNetV2(
        **OUTPUT_STRIDES[8], frozen_stages=6, norm_eval=True)
    model.train()
    for name, layer in pad_layers(model):
        in_layer7 = name.startswith('layer7')
        assert layer.training is in_layer7, name
        assert all(p.requires_grad is in_layer7 for p in layer.parameters())
    assert not any(p.requires_grad for p in model.conv1.parameters())
    assert not any(m.training for m in model.modules()
                   if isinstance(m, _BatchNorm))

    model = PADMobileNetV2(**OUTPUT_STRIDES[8], frozen_stages=5)
    model.train()
    assert all(layer.training for _, layer in pad_layers(model))
    assert all(p.requires_grad for p in model.layer6.parameters())
    assert not any(p.requires_grad for p in model.layer5.parameters())
    assert model.layer7[0].conv[1].bn.training


@pytest.mark.parametrize('aggregation', ['markov', 'recurrent', 'gated'])
def test_training_step_reaches_every_parameter(aggregation):
    model = PADMobileNetV2(
        stage_with_pad=(False, False, True, False, False, True, True),
        pad_cfg=dict(dilations=(1, 2, 4), aggregation=aggregation))
    # 64 px: layer7 is 2x2, where dilation 1 reaches pixels 2 and 4 do not.
    # Randomly weighted: every stage ends in a BN without activation, and
    # the mean (or mean square) of a training-mode BN output is constant.
    assert_training_step_reaches_every_parameter(
        model, torch.rand(2, 3, 64, 64),
        loss=lambda out: (out * torch.rand_like(out)).mean())
    layers = [layer for _, layer in pad_layers(model)]
    assert len(layers) == 5
    if aggregation != 'markov':
        # The chain carries the c=32 stage's prior up to layer7.
        assert layers[-1].aggregation.w_h.grad.abs().sum() > 1e-6


def test_converter_matches_torchvision_features():
    tv = torchvision_state_dict()
    assert is_torchvision_mobilenet_v2(tv.state_dict())
    converted = convert_torchvision_mobilenet_v2(tv.state_dict())
    vanilla = MMPretrainMobileNetV2()
    # The converted keys are exactly mmpretrain's backbone layout.
    assert list(converted) == list(vanilla.state_dict())
    model = MobileNetV2(out_indices=(6, ))
    result = model.load_state_dict(converted, strict=False)
    assert result.missing_keys == []
    assert result.unexpected_keys == CONV2_KEYS
    tv.eval()
    model.eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), tv.features[:18](x))
        # mmpretrain's conv2 is torchvision's features.18.
        vanilla.load_state_dict(converted)
        vanilla.eval()
        torch.testing.assert_close(vanilla(x)[-1], tv.features(x))


def test_converter_rejects_other_layouts():
    state_dict = MobileNetV2().state_dict()
    assert not is_torchvision_mobilenet_v2(state_dict)
    with pytest.raises(ValueError, match='conv1.conv.weight'):
        convert_torchvision_mobilenet_v2(state_dict)
    with pytest.raises(ValueError, match='features.19'):
        convert_torchvision_mobilenet_v2(
            {'features.19.0.weight': torch.zeros(1)})


def test_loads_torchvision_checkpoint(tmp_path, log_records):
    tv = torchvision_state_dict()
    path = tmp_path / 'mobilenet_v2-torchvision.pth'
    torch.save(tv.state_dict(), path)
    model = PADMobileNetV2(
        out_indices=(6, ),
        init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    assert model.is_init
    assert any('torchvision MobileNetV2' in r.getMessage()
               for r in log_records)
    assert logged_keys(log_records, 'missing') == aggregation_keys(
        SEGMENTATION_PAD[1:])
    assert logged_keys(log_records, 'unexpected') == CONV2_KEYS
    # Fresh PAD layers start as the plain conv: in eval the loaded PAD net
    # reproduces torchvision's features.
    tv.eval()
    model.eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), tv.features[:18](x))


def test_converter_cli(tmp_path, monkeypatch):
    tv = torchvision_state_dict().state_dict()
    src, dst = tmp_path / 'tv.pth', tmp_path / 'out' / 'converted.pth'
    torch.save(tv, src)
    monkeypatch.setattr(sys, 'argv', [str(CONVERTER), str(src), str(dst)])
    runpy.run_path(str(CONVERTER), run_name='__main__')
    converted = torch.load(dst, weights_only=True)
    expected = convert_torchvision_mobilenet_v2(tv)
    assert list(converted) == list(expected)
    assert all(torch.equal(converted[k], expected[k]) for k in expected)


def test_loads_mmpretrain_checkpoint(tmp_path, log_records):
    backbone = MMPretrainMobileNetV2().state_dict()
    state_dict = {f'backbone.{k}': v for k, v in backbone.items()}
    state_dict.update({'head.fc.weight': torch.rand(10, 1280),
                       'head.fc.bias': torch.rand(10)})
    path = tmp_path / 'mobilenet-v2_8xb32_in1k.pth'
    torch.save({'state_dict': state_dict, 'meta': {'epoch': 300}}, path)
    model = PADMobileNetV2(
        stage_with_pad=CLASSIFICATION,
        init_cfg=dict(
            type='Pretrained', checkpoint=str(path), prefix='backbone.'))
    model.init_weights()
    assert_loaded(model, backbone, skip=('conv2.', ))
    assert logged_keys(log_records, 'missing') == aggregation_keys(
        CLASSIFICATION_PAD)
    assert logged_keys(log_records, 'unexpected') == CONV2_KEYS


@pytest.mark.parametrize('kwargs,match', [
    (dict(stage_with_pad=(False, ) * 6), 'stage_with_pad'),
    (dict(stage_with_pad=(0, ) * 5 + (1, 1)), 'stage_with_pad'),
    # The single block of the 320 stage is strided: nothing for PAD.
    (dict(stage_with_pad=(False, ) * 6 + (True, ),
          strides=(1, 2, 2, 2, 1, 2, 2)), r'stage_with_pad\[6\]'),
    (dict(pad_cfg=None), 'pad_cfg'),
    (dict(with_cp=True, pad_cfg=dict(aggregation='gated')), 'with_cp'),
])
def test_wrong_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PADMobileNetV2(**kwargs)


def test_classification_form_has_the_1280_conv_and_table6_size():
    """Under the mmpretrain scope PADMobileNetV2 is mmpretrain's MobileNetV2
    with PAD: the final 1x1 conv to 1280 channels (conv2) is there and the
    ImageNet classifier has Table 6's 3.5M parameters; its checkpoint keys
    are mmpretrain's, so mmpretrain's checkpoint loads whole."""
    import os.path as osp

    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS as CLS_MODELS

    from padseg.models.backbones import PADMobileNetV2Classifier
    repo = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
        osp.abspath(__file__)))))
    init_default_scope('mmpretrain')
    folder = osp.join(repo, 'configs', 'classification', 'mobilenet_v2')
    counts = {}
    for name in ('mobilenet-v2', 'pad-mobilenet-v2'):
        cfg = Config.fromfile(osp.join(folder, f'{name}_8xb32-300e_in1k.py'))
        model = CLS_MODELS.build(cfg.model)
        counts[name] = sum(p.numel() for p in model.parameters())
        keys = set(model.state_dict())
    assert isinstance(model.backbone, PADMobileNetV2Classifier)
    assert model.backbone.conv2.conv.out_channels == 1280
    assert round(counts['mobilenet-v2'] / 1e6, 1) == 3.5
    added = counts['pad-mobilenet-v2'] - counts['mobilenet-v2']
    assert 0 < added < 3000  # Table 6: 2.7K (the aggregation weights)
    plain = CLS_MODELS.build(Config.fromfile(osp.join(
        folder, 'mobilenet-v2_8xb32-300e_in1k.py')).model)
    missing = keys - set(plain.state_dict())
    assert missing and all('.aggregation.' in k or k.endswith('.tau')
                           for k in missing)
    assert set(plain.state_dict()) <= keys  # conv2 included
