import importlib.util
import logging
import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torchvision import models as tv_models

from padseg.models.backbones.vgg import (FCNVGG, PADVGG, conv_names,
                                         convert_torchvision_vgg)
from padseg.ops import pad_layers
from helpers.backbones import (assert_pad_off_is_vanilla,
                    assert_training_step_reaches_every_parameter, pad_names)

# Small widths keep the CPU tests fast: conv1..conv5 have 4..32 channels.
SMALL = dict(base_channels=4, fc_channels=8)
# torchvision's make_layers config of those widths (VGG-16 / configuration D).
SMALL_TV_CFG = [4, 4, 'M', 8, 8, 'M', 16, 16, 16, 'M', 32, 32, 32, 'M',
                32, 32, 32, 'M']


def small_torchvision_state_dict(batch_norm=False):
    """A random state dict with torchvision's VGG-16 keys at small widths:
    ``features`` from torchvision's own ``make_layers``; ``classifier`` as
    torchvision's (Linear, ReLU, Dropout) x 2 + Linear."""
    torch.manual_seed(1)
    features = tv_models.vgg.make_layers(SMALL_TV_CFG, batch_norm=batch_norm)
    classifier = nn.Sequential(nn.Linear(32 * 7 * 7, 8), nn.ReLU(),
                               nn.Dropout(), nn.Linear(8, 8), nn.ReLU(),
                               nn.Dropout(), nn.Linear(8, 10))
    state_dict = {f'features.{k}': v for k, v in features.state_dict().items()}
    state_dict.update(
        {f'classifier.{k}': v for k, v in classifier.state_dict().items()})
    for key, value in state_dict.items():  # non-trivial BN statistics too
        if value.is_floating_point():
            state_dict[key] = torch.rand_like(value) + 0.5
    return state_dict


def test_default_channels_and_sizes_full_width():
    # The real VGG-16 widths, shapes only (meta tensors: no memory, no math).
    with torch.device('meta'):
        model = FCNVGG()
        outs = model(torch.empty(2, 3, 97, 131))
    assert [o.shape[1] for o in outs] == [256, 512, 4096]
    # conv1_1 pads by 100: the maps are ceil((size + 198) / stride); fc6 is a
    # valid 7x7 conv on pool5.
    h, w = 97 + 198, 131 + 198
    assert tuple(outs[0].shape[2:]) == (math.ceil(h / 8), math.ceil(w / 8))
    assert tuple(outs[1].shape[2:]) == (math.ceil(h / 16), math.ceil(w / 16))
    assert tuple(outs[2].shape[2:]) == (math.ceil(h / 32) - 6,
                                        math.ceil(w / 32) - 6)


@pytest.mark.parametrize('cls', [FCNVGG, PADVGG])
def test_strides_and_channels(cls):
    # With input_padding=1 every pool halves exactly (ceil mode).
    model = cls(input_padding=1, with_fc=False, out_indices=(0, 1, 2, 3, 4),
                **SMALL).eval()
    outs = model(torch.rand(1, 3, 64, 40))
    for k, (out, width) in enumerate(zip(outs, (4, 8, 16, 32, 32))):
        stride = 2**(k + 1)
        assert out.shape == (1, width, math.ceil(64 / stride),
                             math.ceil(40 / stride))
    # fc7: stride 32 after fc6's valid 7x7 conv; on 224x224 exactly 1x1 as
    # in the ImageNet classifier.
    model = cls(input_padding=1, out_indices=(4, 5), **SMALL).eval()
    pool5, fc7 = model(torch.rand(1, 3, 224, 256))
    assert pool5.shape == (1, 32, 7, 8)
    assert fc7.shape == (1, 8, 1, 2)


@pytest.mark.parametrize('depth', [11, 13, 16, 19])
def test_depths(depth):
    model = FCNVGG(depth=depth, with_fc=False, out_indices=(4, ), **SMALL)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == depth - 3
    assert [name for names in conv_names(depth) for name in names] == [
        name for name, m in model.named_children() if name.startswith('conv')
    ]


@pytest.mark.parametrize('kwargs, name', [
    (dict(depth=15), 'depth'),
    (dict(input_padding=-1), 'input_padding'),
    (dict(base_channels=0), 'base_channels'),
    (dict(dropout=1.0), 'dropout'),
    (dict(out_indices=(6, )), 'out_indices'),
    (dict(with_fc=False), 'out_indices'),  # default out_indices has fc7
    (dict(out_indices=()), 'out_indices'),
    (dict(frozen_stages=7), 'frozen_stages'),
])
def test_invalid_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        FCNVGG(**dict(SMALL, **kwargs))


@pytest.mark.parametrize('cls', [FCNVGG, PADVGG])
def test_frozen_stages(cls):
    model = cls(frozen_stages=2, **SMALL)
    model.train()
    frozen_names = {name for names in model.stage_names[:2] for name in names}
    assert 'conv2_2' in frozen_names and 'pool2' in frozen_names
    for name, layer in model.named_children():
        frozen = name in frozen_names
        assert all(p.requires_grad != frozen for p in layer.parameters()), name
        assert layer.training != frozen, name
    # All six stages, fc6/fc7 (and their dropout) included, and the PAD
    # layers' aggregation weights in conv5, already before train().
    model = cls(frozen_stages=6, **SMALL)
    assert not any(p.requires_grad for p in model.parameters())
    assert not model.drop7.training and not model.conv5_3.training
    model.train()
    assert not any(p.requires_grad for p in model.parameters())
    assert not model.drop7.training
    assert cls(frozen_stages=-1, **SMALL).conv1_1.conv.weight.requires_grad


@pytest.mark.parametrize('norm_eval', [True, False])
def test_norm_eval(norm_eval):
    model = PADVGG(norm_cfg=dict(type='BN'), norm_eval=norm_eval, **SMALL)
    model.train()
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert len(norms) == 13
    assert all(m.training != norm_eval for m in norms)
    assert model.conv5_1.conv.training  # only norm layers are affected


def test_pad_off_is_vanilla():
    vanilla = FCNVGG(**SMALL)
    pad = PADVGG(stage_with_pad=(False, ) * 5, **SMALL)
    assert_pad_off_is_vanilla(vanilla, pad, torch.rand(1, 3, 41, 37))


def test_default_placement():
    model = PADVGG(**SMALL)
    assert pad_names(model) == [
        'conv5_1.conv', 'conv5_2.conv', 'conv5_3.conv'
    ]
    layer = model.conv5_1.conv
    assert layer.dilations == (1, 2, 4)
    assert type(layer.aggregation).__name__ == 'MarkovAggregation'
    assert type(model.fc6.conv) is nn.Conv2d
    assert type(model.fc7.conv) is nn.Conv2d


def test_pad_starts_as_the_plain_conv():
    # Same seed: the PAD layers take the weights of the convs they replace,
    # and at start-up every pixel picks the base dilation in evaluation.
    torch.manual_seed(0)
    vanilla = FCNVGG(**SMALL).eval()
    torch.manual_seed(0)
    pad = PADVGG(stage_with_pad=(False, False, True, True, True),
                 **SMALL).eval()
    x = torch.rand(1, 3, 45, 33)
    for a, b in zip(vanilla(x), pad(x)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize('flags, blocks', [
    ((False, False, True, True, True), (3, 4, 5)),  # Table 1, last row
    ((False, False, True, True, False), (3, 4)),
    ((True, False, False, False, False), (1, )),  # conv1_1 pads by 100
])
def test_table1_placements(flags, blocks):
    model = PADVGG(stage_with_pad=flags, **SMALL).train()
    expected = [f'{name}.conv' for block in blocks
                for name in conv_names(16)[block - 1]]
    assert pad_names(model) == expected
    chains = {layer.chain for _, layer in pad_layers(model)}
    assert len(chains) == 1 and None not in chains
    reference = FCNVGG(**SMALL)
    x = torch.rand(1, 3, 35, 29)
    assert [o.shape for o in model(x)] == [o.shape for o in reference(x)]


@pytest.mark.parametrize('stage_with_pad', [
    (False, ) * 4,
    (False, ) * 5 + (True, ),  # no PAD on fc6/fc7
    (0, 0, 0, 0, 1),
])
def test_wrong_placement_raises(stage_with_pad):
    with pytest.raises(ValueError, match='stage_with_pad'):
        PADVGG(stage_with_pad=stage_with_pad, **SMALL)


@pytest.mark.parametrize('pad_cfg', [dict(dilation=(1, 2)), 'markov'])
def test_wrong_pad_cfg_raises(pad_cfg):
    with pytest.raises(ValueError, match='pad_cfg'):
        PADVGG(pad_cfg=pad_cfg, **SMALL)


@pytest.mark.parametrize('aggregation', ['markov', 'recurrent', 'gated'])
def test_training_step(aggregation):
    # conv4 and conv5: the chain also crosses pool4.
    model = PADVGG(stage_with_pad=(False, False, False, True, True),
                   pad_cfg=dict(dilations=(1, 2, 4), aggregation=aggregation),
                   **SMALL)
    assert_training_step_reaches_every_parameter(model,
                                                 torch.rand(2, 3, 33, 41))
    assert any(p.grad.abs().sum() > 0
               for n, p in model.named_parameters() if 'aggregation' in n)


@pytest.mark.parametrize('batch_norm', [False, True])
@pytest.mark.parametrize('depth', [11, 16, 19])
def test_converter_matches_full_torchvision_layout(depth, batch_norm):
    # Keys and shapes of the real torchvision models (meta tensors).
    name = f'vgg{depth}_bn' if batch_norm else f'vgg{depth}'
    with torch.device('meta'):
        public = getattr(tv_models, name)().state_dict()
        model = FCNVGG(depth=depth,
                       norm_cfg=dict(type='BN') if batch_norm else None)
    converted = convert_torchvision_vgg(public)
    expected = {k: v.shape for k, v in model.state_dict().items()}
    assert {k: v.shape for k, v in converted.items()} == expected
    assert 'classifier.6.weight' in public  # fc8 is dropped


def test_fc_reshape_keeps_the_linear_layers():
    state_dict = small_torchvision_state_dict()
    converted = convert_torchvision_vgg(state_dict)
    pool5 = torch.rand(2, 32, 7, 7)
    linear = F.linear(pool5.flatten(1), state_dict['classifier.0.weight'],
                      state_dict['classifier.0.bias'])
    conv = F.conv2d(pool5, converted['fc6.conv.weight'],
                    converted['fc6.conv.bias'])
    torch.testing.assert_close(conv.flatten(1), linear)
    assert converted['fc7.conv.weight'].shape == (8, 8, 1, 1)
    assert not any(k.startswith('classifier') for k in converted)


@pytest.mark.parametrize('batch_norm', [False, True])
def test_load_torchvision_checkpoint(tmp_path, log_records, batch_norm):
    state_dict = small_torchvision_state_dict(batch_norm)
    path = str(tmp_path / 'vgg16.pth')
    torch.save(state_dict, path)
    norm_cfg = dict(type='BN') if batch_norm else None
    model = FCNVGG(norm_cfg=norm_cfg,
                   init_cfg=dict(type='Pretrained', checkpoint=path), **SMALL)
    model.init_weights()
    converted = convert_torchvision_vgg(state_dict)
    # Nothing missing, nothing left over, every tensor in place.
    assert set(converted) == set(model.state_dict())
    for key, value in model.state_dict().items():
        assert torch.equal(value, converted[key]), key
    conv5_3 = 'features.40.weight' if batch_norm else 'features.28.weight'
    assert torch.equal(model.conv5_3.conv.weight, state_dict[conv5_3])
    assert not [r for r in log_records if r.levelno >= logging.WARNING]


def test_pad_loads_torchvision_checkpoint(tmp_path, log_records):
    state_dict = small_torchvision_state_dict()
    path = str(tmp_path / 'vgg16.pth')
    torch.save(state_dict, path)
    model = PADVGG(init_cfg=dict(type='Pretrained', checkpoint=path), **SMALL)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    model.init_weights()
    converted = convert_torchvision_vgg(state_dict)
    missing = set(model.state_dict()) - set(converted)
    assert missing == {
        f'conv5_{i}.conv.{p}' for i in (1, 2, 3)
        for p in ('aggregation.u_h', 'aggregation.u_h_bias',
                  'aggregation.gain', 'tau')
    }
    assert not set(converted) - set(model.state_dict())
    for key, value in model.state_dict().items():
        expected = start[key] if key in missing else converted[key]
        assert torch.equal(value, expected), key
    messages = [r.getMessage() for r in log_records]
    assert not [r for r in log_records if r.levelno >= logging.WARNING]
    pad_message = [m for m in messages if 'no PAD aggregation' in m]
    assert len(pad_message) == 1
    assert 'for 3 PAD layers (conv5_1.conv, conv5_2.conv, conv5_3.conv)' in (
        pad_message[0])


def test_converter_cli_round_trip(tmp_path):
    spec = importlib.util.spec_from_file_location(
        'vgg2padseg',
        osp.join(osp.dirname(__file__), '../../../tools/model_converters/'
                 'vgg2padseg.py'))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    state_dict = small_torchvision_state_dict()
    src, dst = str(tmp_path / 'tv.pth'), str(tmp_path / 'out' / 'padseg.pth')
    torch.save(state_dict, src)
    cli.main([src, dst])
    written = torch.load(dst)
    converted = convert_torchvision_vgg(state_dict)
    assert list(written) == list(converted)
    assert all(torch.equal(written[k], converted[k]) for k in converted)
    # Both files give the same model; padseg's layout also loads strictly.
    from_src = FCNVGG(init_cfg=dict(type='Pretrained', checkpoint=src),
                      **SMALL)
    from_dst = FCNVGG(init_cfg=dict(type='Pretrained', checkpoint=dst),
                      **SMALL)
    from_src.init_weights()
    from_dst.init_weights()
    FCNVGG(**SMALL).load_state_dict(written)
    for (k, a), b in zip(from_src.state_dict().items(),
                         from_dst.state_dict().values()):
        assert torch.equal(a, b), k


def test_load_with_prefix(tmp_path):
    source = FCNVGG(**SMALL)
    path = str(tmp_path / 'segmentor.pth')
    torch.save(
        dict(state_dict={
            f'backbone.{k}': v
            for k, v in source.state_dict().items()
        }), path)
    model = PADVGG(init_cfg=dict(type='Pretrained', checkpoint=path,
                                 prefix='backbone.'), **SMALL)
    model.init_weights()
    torch.testing.assert_close(model.conv5_1.conv.weight,
                               source.conv5_1.conv.weight)
    torch.testing.assert_close(model.fc6.conv.weight, source.fc6.conv.weight)


def test_not_a_torchvision_checkpoint():
    with pytest.raises(ValueError, match='torchvision'):
        convert_torchvision_vgg({'features.0.weight': torch.rand(4, 3, 3, 3),
                                 'head.weight': torch.rand(2)})
    with pytest.raises(ValueError, match='convs'):
        convert_torchvision_vgg({'features.0.weight': torch.rand(4, 3, 3, 3)})
