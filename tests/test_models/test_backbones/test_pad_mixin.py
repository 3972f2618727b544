"""PADMixin: the one way PAD enters a backbone. A backbone that is not
padseg's takes it in a few lines; every PAD backbone swaps, links, checks
and re-freezes the same way."""
import pytest
import torch
from mmseg.models.backbones import ResNeSt
from torch import nn

from padseg.models.backbones import (PADDRN, PADXception, PADMixin,
                                     PADMobileNetV2, PADResNet, PADVGG)
from padseg.ops import PADConv2d, pad_layers


class PADResNeSt(PADMixin, ResNeSt):
    """mmseg's ResNeSt with PAD: the whole PAD form of a sixth backbone."""

    def __init__(self, stage_with_pad, pad_cfg, **kwargs):
        super().__init__(**kwargs)
        self.add_pad(stage_with_pad, pad_cfg)

    def pad_stages(self):
        return [(name, getattr(self, name)) for name in self.res_layers]


def small_resnest(**kwargs):
    return PADResNeSt(
        stage_with_pad=(False, False, False, True),
        pad_cfg=dict(dilations=(1, 2, 4), aggregation='recurrent'),
        depth=50, stem_channels=16, base_channels=8, radix=2, **kwargs)


def test_a_sixth_backbone_takes_pad_in_a_few_lines():
    torch.manual_seed(0)
    plain = ResNeSt(depth=50, stem_channels=16, base_channels=8, radix=2)
    torch.manual_seed(0)
    model = small_resnest()
    names = [name for name, _ in pad_layers(model)]
    # the grouped 3x3 conv inside each split-attention conv2 of layer4
    # (ResNeSt strides with an average pool, so the first block's is
    # stride-1 too)
    assert names == [f'layer4.{i}.conv2.conv' for i in range(3)]
    layers = [layer for _, layer in pad_layers(model)]
    assert all(layer.groups == plain.layer4[1].conv2.conv.groups > 1
               for layer in layers)
    assert torch.equal(layers[0].weight, plain.layer4[0].conv2.conv.weight)
    assert layers[0].chain is layers[2].chain is not None  # one chain
    model.eval()
    outs = model(torch.rand(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 32, 16, 16),
                                              (1, 64, 8, 8), (1, 128, 4, 4),
                                              (1, 256, 2, 2)]
    state = model.state_dict()
    missing = set(state) - set(plain.state_dict())
    assert missing and all('.aggregation.' in key or key.endswith('.tau')
                           for key in missing)


def test_the_mixin_refuses_what_every_pad_backbone_refuses():
    with pytest.raises(ValueError, match='stage_with_pad'):
        PADResNeSt(stage_with_pad=(True, ), pad_cfg={}, depth=50)
    with pytest.raises(ValueError, match='pad_cfg'):
        PADResNeSt(stage_with_pad=(False, ) * 3 + (True, ),
                   pad_cfg=dict(kernel_size=3), depth=50)
    with pytest.raises(ValueError, match='with_cp'):
        small_resnest(with_cp=True)


class _NoCandidates(PADMixin, nn.Module):

    def __init__(self):
        super().__init__()
        self.stage = nn.Sequential(nn.Conv2d(3, 3, 1), nn.Conv2d(3, 3, 3, 2))

    def pad_stages(self):
        return [('stage', self.stage)]


def test_a_stage_without_candidates_is_named():
    with pytest.raises(ValueError, match=r'selects stage \(stage_with_pad'
                       r'\[0\]\), which has no plain stride-1'):
        _NoCandidates().add_pad((True, ), {})


@pytest.mark.parametrize('build', [
    lambda: PADMobileNetV2(widen_factor=0.25, frozen_stages=6,
                           stage_with_pad=(False, False, True) + (False, ) * 4),
    lambda: PADDRN(arch='C', depth=26, frozen_stages=8),
    lambda: PADResNet(depth=18, frozen_stages=4),
    lambda: PADVGG(depth=11, frozen_stages=5),
    lambda: PADXception(frozen_stages=3, stage_with_pad=(True, False, False)),
])
def test_frozen_stages_freeze_the_new_pad_parameters_too(build):
    """add_pad freezes again after the swap, in every PAD backbone (the
    aggregation weights are new parameters of frozen stages)."""
    model = build()
    layers = [layer for _, layer in pad_layers(model)]
    assert layers and all(isinstance(layer, PADConv2d) for layer in layers)
    for layer in layers:
        assert not any(p.requires_grad for p in layer.parameters())
    model.train()
    assert not any(layer.training for layer in layers)
