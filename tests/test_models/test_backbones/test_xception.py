import logging

import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from helpers.checkpoint_log import aggregation_keys
from padseg.models.backbones.xception import (PADXception, Xception65,
                                              convert_timm_xception)
from padseg.ops import pad_layers

from helpers.backbones import (assert_loaded, assert_output_shapes,
                    assert_pad_off_is_vanilla, assert_starts_as_vanilla,
                    assert_training_step_reaches_every_parameter)

CHANNELS = (128, 256, 728, 728, 2048)
STRIDES = {32: (4, 8, 16, 16, 32), 16: (4, 8, 16, 16, 16), 8: (4, 8, 8, 8, 8)}
# (stride, dilation) of the depthwise convs of the blocks whose geometry
# depends on the output stride: blocks.2 conv3, a middle block, blocks.19
# conv3, blocks.20.
GEOMETRY = {
    32: [(2, 1), (1, 1), (2, 1), (1, 1)],
    16: [(2, 1), (1, 1), (1, 1), (1, 2)],
    8: [(1, 1), (1, 2), (1, 2), (1, 4)],
}
ALL_STAGES = (0, 1, 2, 3, 4)
# Blocks of timm's xception65: (in_channels, out_channels, has 1x1 shortcut).
TIMM_BLOCKS = [
    (64, (128, ) * 3, True), (128, (256, ) * 3, True),
    (256, (728, ) * 3, True),
    *[(728, (728, ) * 3, False)] * 16, (728, (728, 1024, 1024), True),
    (1024, (1536, 1536, 2048), False)
]


def depthwise_names(blocks, convs=(1, 2, 3)):
    return {f'blocks.{b}.stack.conv{k}.conv_dw' for b in blocks for k in convs}


# Middle flow (blocks 3-18) and exit flow (blocks 19-20), all stride 1 at
# output stride 16: 18 blocks x 3 depthwise convs.
DEFAULT_PAD = depthwise_names(range(3, 21))


def timm_state_dict():
    """Random tensors under the key names and shapes of timm's xception65
    (timm/models/xception_aligned.py), classifier included."""
    state = {}

    def conv(name, out_channels, in_channels, kernel):
        state[f'{name}.weight'] = 0.1 * torch.randn(out_channels, in_channels,
                                                    kernel, kernel)

    def bn(name, channels):
        state[f'{name}.weight'] = torch.rand(channels) + 0.5
        state[f'{name}.bias'] = torch.randn(channels)
        state[f'{name}.running_mean'] = torch.randn(channels)
        state[f'{name}.running_var'] = torch.rand(channels) + 0.5
        state[f'{name}.num_batches_tracked'] = torch.tensor(7)

    conv('stem.0.conv', 32, 3, 3)
    bn('stem.0.bn', 32)
    conv('stem.1.conv', 64, 32, 3)
    bn('stem.1.bn', 64)
    for i, (in_channels, out_channels, shortcut) in enumerate(TIMM_BLOCKS):
        if shortcut:
            conv(f'blocks.{i}.shortcut.conv', out_channels[-1], in_channels, 1)
            bn(f'blocks.{i}.shortcut.bn', out_channels[-1])
        for k, channels in enumerate(out_channels, 1):
            name = f'blocks.{i}.stack.conv{k}'
            conv(f'{name}.conv_dw', in_channels, 1, 3)
            bn(f'{name}.bn_dw', in_channels)
            conv(f'{name}.conv_pw', channels, in_channels, 1)
            bn(f'{name}.bn_pw', channels)
            in_channels = channels
    state['head.fc.weight'] = torch.randn(1000, 2048)
    state['head.fc.bias'] = torch.randn(1000)
    return state


@pytest.fixture(scope='module')
def vanilla():
    torch.manual_seed(0)
    return Xception65()


@pytest.fixture(scope='module')
def pad_model():
    torch.manual_seed(0)
    return PADXception()


@pytest.fixture(scope='module')
def timm_checkpoint(tmp_path_factory):
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp('ckpt') / 'xception65_timm.pth'
    torch.save(timm_state_dict(), path)
    return path


@pytest.mark.parametrize('cls', [Xception65, PADXception])
@pytest.mark.parametrize('output_stride', [8, 16, 32])
def test_channels_strides_dilations(cls, output_stride):
    model = cls(output_stride=output_stride, out_indices=ALL_STAGES)
    assert_output_shapes(model, 32, CHANNELS, STRIDES[output_stride])
    convs = [model.blocks[2].stack.conv3.conv_dw,
             model.blocks[10].stack.conv2.conv_dw,
             model.blocks[19].stack.conv3.conv_dw,
             model.blocks[20].stack.conv1.conv_dw]
    assert [(c.stride[0], c.dilation[0]) for c in convs] == GEOMETRY[
        output_stride]


def test_default_outputs(vanilla):
    assert vanilla.out_indices == (0, 4)
    with torch.no_grad():
        c1, c5 = vanilla.eval()(torch.rand(1, 3, 64, 64))
    assert c1.shape == (1, 128, 16, 16)  # DeepLabV3+'s low-level feature
    assert c5.shape == (1, 2048, 4, 4)
    assert (c5 >= 0).all()  # the exit flow ends with a ReLU


def test_frozen_stages():
    model = Xception65(frozen_stages=2)
    model.train()
    frozen = [model.stem, model.blocks[0], model.blocks[1]]
    for module in frozen:
        assert not any(p.requires_grad for p in module.parameters())
        assert not any(m.training for m in module.modules())
    for module in model.blocks[2:]:
        assert all(p.requires_grad for p in module.parameters())
        assert all(m.training for m in module.modules())

    # Frozen middle flow: its PAD aggregation weights freeze too.
    model = PADXception(frozen_stages=4)
    model.train()
    for name, layer in pad_layers(model):
        block = int(name.split('.')[1])
        assert layer.weight.requires_grad == (block >= 19), name
        assert layer.aggregation.u_h.requires_grad == (block >= 19), name
        assert layer.training == (block >= 19), name


def test_norm_eval(vanilla):
    vanilla.train()
    assert all(m.training for m in vanilla.modules()
               if isinstance(m, _BatchNorm))
    model = Xception65(norm_eval=True)
    model.train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert bns and not any(m.training for m in bns)
    assert model.training and model.blocks[5].training
    before = bns[-1].running_mean.clone()
    model(torch.rand(2, 3, 32, 32))
    assert torch.equal(bns[-1].running_mean, before)


def test_pad_off_is_vanilla(vanilla, pad_model):
    x = torch.rand(1, 3, 32, 32)
    off = PADXception(stage_with_pad=(False, False, False))
    assert_pad_off_is_vanilla(vanilla, off, x)
    # At start-up a PAD layer (weight copied, argmax in eval) picks its own
    # dilation everywhere, so the default PAD net equals the plain one.
    assert_starts_as_vanilla(vanilla, pad_model, x,
                             aggregation_keys(DEFAULT_PAD))


def test_default_placement(pad_model):
    layers = dict(pad_layers(pad_model))
    assert len(layers) == 54
    assert set(layers) == DEFAULT_PAD
    for layer in layers.values():
        assert layer.groups == layer.in_channels  # depthwise
        assert layer.stride == (1, 1)
        assert layer.dilations == (1, 2, 4)
        assert type(layer.aggregation).__name__ == 'MarkovAggregation'
    chains = {id(layer.chain) for layer in layers.values()}
    assert len(chains) == 1 and next(iter(layers.values())).chain is not None
    assert isinstance(pad_model.blocks[0].stack.conv1.conv_dw, nn.Conv2d)
    assert type(pad_model.stem[1].conv) is nn.Conv2d


def test_placement_follows_strides():
    # At output stride 32 blocks.19's last depthwise conv keeps stride 2.
    model = PADXception(output_stride=32)
    assert {n for n, _ in pad_layers(model)} == (
        DEFAULT_PAD - {'blocks.19.stack.conv3.conv_dw'})
    # Entry flow: the stem's stride-1 3x3 conv and the stride-1 depthwise
    # convs (blocks.2.conv3 is strided at output stride 16).
    model = PADXception(stage_with_pad=(True, False, False))
    assert {n for n, _ in pad_layers(model)} == (
        {'stem.1.conv'} | depthwise_names(range(3), (1, 2)))


@pytest.mark.parametrize('aggregation', ['markov', 'recurrent', 'gated'])
def test_training_step(aggregation):
    model = PADXception(
        pad_cfg=dict(dilations=(1, 2, 4), aggregation=aggregation, tau=0.5))
    layer = model.blocks[3].stack.conv1.conv_dw
    assert type(layer.aggregation).__name__.lower().startswith(aggregation)
    assert layer.tau == 0.5
    assert_training_step_reaches_every_parameter(model,
                                                 torch.rand(1, 3, 32, 32))
    assert layer.aggregation.u_h.grad.abs().sum() > 0


def test_pretrained_timm_vanilla(timm_checkpoint, log_records):
    state = torch.load(timm_checkpoint)
    model = Xception65(
        init_cfg=dict(type='Pretrained', checkpoint=str(timm_checkpoint)))
    # The modules are named like timm's, classifier aside.
    assert set(model.state_dict()) == set(state) - {
        'head.fc.weight', 'head.fc.bias'
    }
    model.init_weights()
    assert_loaded(model, state, skip=('head.', ))
    assert not [r for r in log_records if r.levelno >= logging.WARNING]
    assert any('loaded' in r.getMessage() for r in log_records)


def test_pretrained_timm_pad(timm_checkpoint, log_records):
    state = torch.load(timm_checkpoint)
    model = PADXception(
        init_cfg=dict(type='Pretrained', checkpoint=str(timm_checkpoint)))
    model.init_weights()
    layer = model.blocks[7].stack.conv2.conv_dw
    assert torch.equal(layer.weight,
                       state['blocks.7.stack.conv2.conv_dw.weight'])
    assert not [r for r in log_records if r.levelno >= logging.WARNING]
    messages = ' '.join(r.getMessage() for r in log_records)
    assert 'no PAD aggregation weights for 54 PAD layers' in messages
    result = model.load_state_dict(convert_timm_xception(state), strict=False)
    assert result.unexpected_keys == []
    assert sorted(result.missing_keys) == sorted(
        aggregation_keys(DEFAULT_PAD))


def test_convert_timm_xception():
    weight, fc = torch.rand(2), torch.rand(3)
    converted = convert_timm_xception(
        dict(state_dict={'module.stem.0.conv.weight': weight,
                         'module.head.fc.weight': fc}))
    assert list(converted) == ['stem.0.conv.weight']
    assert converted['stem.0.conv.weight'] is weight


@pytest.mark.parametrize('kwargs, name', [
    (dict(stage_with_pad=(True, True)), 'stage_with_pad'),
    (dict(stage_with_pad=(True, True, True, True)), 'stage_with_pad'),
    (dict(stage_with_pad=(1, 1, 1)), 'stage_with_pad'),
    (dict(pad_cfg=dict(dilation=2)), 'pad_cfg'),
    (dict(output_stride=4), 'output_stride'),
    (dict(out_indices=(5, )), 'out_indices'),
    (dict(out_indices=(0, 0)), 'out_indices'),
    (dict(frozen_stages=6), 'frozen_stages'),
])
def test_invalid_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        PADXception(**kwargs)
