import importlib.util
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from helpers.checkpoint_log import aggregation_keys
from padseg.models.backbones.drn import DRN, PADDRN, convert_reference_drn
from padseg.ops import pad_layers

from helpers.backbones import (assert_loaded, assert_output_shapes,
                    assert_pad_off_is_vanilla, assert_starts_as_vanilla,
                    assert_training_step_reaches_every_parameter)

# Architectures of github fyu/drn (drn.py: drn_c_26 ... drn_d_107):
# (arch, depth) -> (Bottleneck in layer3-6, blocks or convs per stage).
REFERENCE_ARCHS = {
    ('C', 26): (False, (1, 1, 2, 2, 2, 2, 1, 1)),
    ('C', 42): (False, (1, 1, 3, 4, 6, 3, 1, 1)),
    ('C', 58): (True, (1, 1, 3, 4, 6, 3, 1, 1)),
    ('D', 22): (False, (1, 1, 2, 2, 2, 2, 1, 1)),
    ('D', 24): (False, (1, 1, 2, 2, 2, 2, 2, 2)),
    ('D', 38): (False, (1, 1, 3, 4, 6, 3, 1, 1)),
    ('D', 40): (False, (1, 1, 3, 4, 6, 3, 2, 2)),
    ('D', 54): (True, (1, 1, 3, 4, 6, 3, 1, 1)),
    ('D', 56): (True, (1, 1, 3, 4, 6, 3, 2, 2)),
    ('D', 105): (True, (1, 1, 3, 4, 23, 3, 1, 1)),
    ('D', 107): (True, (1, 1, 3, 4, 23, 3, 2, 2)),
}
WIDTHS = (16, 32, 64, 128, 256, 512, 512, 512)
CHANNELS = {
    ('C', 26): WIDTHS,
    ('D', 54): (16, 32, 256, 512, 1024, 2048, 512, 512),
}
STRIDES = {
    8: (1, 2, 4, 8, 8, 8, 8, 8),
    16: (1, 2, 4, 8, 16, 16, 16, 16),
    32: (1, 2, 4, 8, 16, 32, 32, 32),
}
ALL_STAGES = tuple(range(8))
DEFAULT_PAD = {
    ('C', 26): ['layer7.0.conv1', 'layer7.0.conv2', 'layer8.0.conv1',
                'layer8.0.conv2'],
    ('D', 54): ['layer7.0', 'layer8.0'],
}


def reference_shapes(arch, depth):
    """Key names and shapes of the state dict of fyu/drn's ``DRN`` (the
    published checkpoints), its 1000-way 1x1 conv classifier ``fc`` included.
    """
    bottleneck, blocks = REFERENCE_ARCHS[(arch, depth)]
    shapes = {}

    def conv(name, cin, cout, kernel):
        shapes[f'{name}.weight'] = (cout, cin, kernel, kernel)

    def bn(name, channels):
        for param in ('weight', 'bias', 'running_mean', 'running_var'):
            shapes[f'{name}.{param}'] = (channels, )

    def res_layer(name, cin, planes, num, stride, bottleneck):
        cout = planes * 4 if bottleneck else planes
        for j in range(num):
            block = f'{name}.{j}'
            if bottleneck:
                conv(f'{block}.conv1', cin, planes, 1)
                conv(f'{block}.conv2', planes, planes, 3)
                conv(f'{block}.conv3', planes, cout, 1)
                for k, c in ((1, planes), (2, planes), (3, cout)):
                    bn(f'{block}.bn{k}', c)
            else:
                conv(f'{block}.conv1', cin, planes, 3)
                conv(f'{block}.conv2', planes, planes, 3)
                bn(f'{block}.bn1', planes)
                bn(f'{block}.bn2', planes)
            # The reference builds the projection also where it is unused
            # (layer7 of C-58, a block without residual).
            if j == 0 and (stride != 1 or cin != cout):
                conv(f'{block}.downsample.0', cin, cout, 1)
                bn(f'{block}.downsample.1', cout)
            cin = cout
        return cout

    def conv_layers(name, cin, planes, num):
        for j in range(num):
            conv(f'{name}.{3 * j}', cin if j == 0 else planes, planes, 3)
            bn(f'{name}.{3 * j + 1}', planes)
        return planes

    if arch == 'C':
        conv('conv1', 3, 16, 7)
        bn('bn1', 16)
        c = res_layer('layer1', 16, 16, blocks[0], 1, False)
        c = res_layer('layer2', c, 32, blocks[1], 2, False)
    else:
        conv('layer0.0', 3, 16, 7)
        bn('layer0.1', 16)
        c = conv_layers('layer1', 16, 16, blocks[0])
        c = conv_layers('layer2', c, 32, blocks[1])
    for i, stride in ((2, 2), (3, 2), (4, 1), (5, 1)):
        c = res_layer(f'layer{i + 1}', c, WIDTHS[i], blocks[i], stride,
                      bottleneck)
    for i in (6, 7):
        if arch == 'C':
            c = res_layer(f'layer{i + 1}', c, 512, blocks[i], 1, False)
        else:
            c = conv_layers(f'layer{i + 1}', c, 512, blocks[i])
    conv('fc', 512, 1000, 1)
    shapes['fc.bias'] = (1000, )
    return shapes


def reference_checkpoint(arch, depth):
    """Random tensors in the reference layout, as saved in 2017 (no
    ``num_batches_tracked``)."""
    state = {}
    for key, shape in reference_shapes(arch, depth).items():
        if key.endswith('running_var'):
            state[key] = torch.rand(shape) + 0.5
        elif key.endswith('.weight') and len(shape) == 4:
            fan_out = shape[0] * shape[2] * shape[3]
            state[key] = torch.randn(shape) * (2 / fan_out)**0.5
        else:
            state[key] = 0.1 * torch.randn(shape) + (
                1 if key.endswith('.weight') else 0)
    return state


def model_shapes(model):
    return {
        k: tuple(v.shape)
        for k, v in model.state_dict().items()
        if not k.endswith('num_batches_tracked')
    }


@pytest.fixture(scope='module')
def d54():
    torch.manual_seed(0)
    return DRN(arch='D', depth=54, out_indices=ALL_STAGES)


@pytest.fixture(scope='module')
def pad_d54():
    torch.manual_seed(0)
    return PADDRN(arch='D', depth=54, out_indices=ALL_STAGES)


@pytest.mark.parametrize('arch, depth', sorted(REFERENCE_ARCHS))
def test_layout_matches_reference(arch, depth):
    # Built on the meta device: no memory, no initialisation cost.
    with torch.device('meta'):
        model = DRN(arch=arch, depth=depth)
    bottleneck, blocks = REFERENCE_ARCHS[(arch, depth)]
    for i, num in enumerate(blocks):
        stage = getattr(model, f'layer{i + 1}')
        if arch == 'D' and i in (0, 1, 6, 7):
            assert len(stage) == 3 * num  # conv, BN, ReLU
        else:
            assert len(stage) == num
            expected = 'Bottleneck' if bottleneck and 2 <= i <= 5 else (
                'BasicBlock')
            assert all(type(b).__name__ == expected for b in stage)
    reference = reference_shapes(arch, depth)
    unused = {k for k in reference if k.startswith('layer7.0.downsample')}
    assert bool(unused) == ((arch, depth) == ('C', 58))
    assert model_shapes(model) == {
        k: v
        for k, v in reference.items()
        if not k.startswith('fc.') and k not in unused
    }


@pytest.mark.parametrize('output_stride', [8, 16, 32])
@pytest.mark.parametrize('cls', [DRN, PADDRN])
def test_channels_strides_c26(cls, output_stride):
    model = cls(output_stride=output_stride, out_indices=ALL_STAGES)
    assert_output_shapes(model, 32, WIDTHS, STRIDES[output_stride])


@pytest.mark.parametrize('output_stride', [8, 16, 32])
def test_channels_strides_d54(output_stride, d54):
    if output_stride == 8:
        model = d54
    else:
        model = PADDRN(arch='D', depth=54, output_stride=output_stride,
                       out_indices=ALL_STAGES)
    assert_output_shapes(model, 32, CHANNELS[('D', 54)],
                         STRIDES[output_stride])


@pytest.mark.parametrize('output_stride, geometry', [
    # (stride, dilation) of the 3x3 convs: first blocks of layer5 and layer6,
    # then layer7 and layer8.
    (8, [(1, 2), (1, 4), (1, 2), (1, 1)]),
    (16, [(2, 1), (1, 2), (1, 1), (1, 1)]),
    (32, [(2, 1), (2, 1), (1, 1), (1, 1)]),
])
def test_dilations(output_stride, geometry):
    with torch.device('meta'):
        c26 = DRN(output_stride=output_stride)
        d54 = DRN(arch='D', depth=54, output_stride=output_stride)
    convs = {
        'C': [c26.layer5[0].conv1, c26.layer6[0].conv1, c26.layer7[0].conv1,
              c26.layer8[0].conv1],
        'D': [d54.layer5[0].conv2, d54.layer6[0].conv2, d54.layer7[0],
              d54.layer8[0]],
    }
    for arch, layers in convs.items():
        assert [(c.stride[0], c.dilation[0]) for c in layers] == geometry
    # Both convs of a DRN BasicBlock are dilated (mmseg's dilates one).
    assert c26.layer6[1].conv2.dilation == c26.layer6[1].conv1.dilation
    assert c26.layer7[0].conv2.dilation == c26.layer7[0].conv1.dilation


def test_degridding_layers_have_no_residual():
    model = DRN().eval()
    block = model.layer8[0]
    assert block.downsample is None and not block.residual
    x = torch.rand(1, 512, 4, 4)
    with torch.no_grad():
        plain = block.relu(block.norm2(block.conv2(
            block.relu(block.norm1(block.conv1(x))))))
        assert torch.equal(block(x), plain)
        assert model.layer6[0].residual  # layer3-6 keep theirs


@pytest.mark.parametrize('cls', [DRN, PADDRN])
def test_frozen_stages(cls):
    with torch.device('meta'):  # flags only: no cost
        model = cls(frozen_stages=2)
    model.train()
    frozen = [model.conv1, model.bn1, model.layer1, model.layer2]
    for module in frozen:
        assert not any(p.requires_grad for p in module.parameters())
        assert not any(m.training for m in module.modules())
    for name in ('layer3', 'layer7', 'layer8'):
        module = getattr(model, name)
        assert all(p.requires_grad for p in module.parameters())
        assert all(m.training for m in module.modules())

    # Arch D: the stem is layer0; frozen PAD layers freeze their aggregation.
    with torch.device('meta'):
        model = cls(arch='D', depth=54, frozen_stages=7)
    model.train()
    for module in [model.layer0] + [model.layer7]:
        assert not any(p.requires_grad for p in module.parameters())
        assert not any(m.training for m in module.modules())
    assert all(p.requires_grad for p in model.layer8.parameters())
    assert model.layer8.training
    if cls is PADDRN:
        assert not model.layer7[0].aggregation.u_h.requires_grad
        assert model.layer8[0].aggregation.u_h.requires_grad


@pytest.mark.parametrize('cls', [DRN, PADDRN])
def test_norm_eval(cls):
    model = cls(norm_eval=True)
    model.train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert bns and not any(m.training for m in bns)
    assert model.training and model.layer8[0].conv1.training
    before = model.layer8[0].bn2.running_mean.clone()
    model(torch.rand(2, 3, 32, 32))
    assert torch.equal(model.layer8[0].bn2.running_mean, before)

    model = cls()
    model.train()
    assert all(m.training for m in model.modules()
               if isinstance(m, _BatchNorm))


def test_pad_off_is_vanilla_c26():
    vanilla = DRN(out_indices=ALL_STAGES)
    vanilla.init_weights()
    x = torch.rand(2, 3, 32, 32)
    off = PADDRN(stage_with_pad=(False, ) * 8, out_indices=ALL_STAGES)
    assert_pad_off_is_vanilla(vanilla, off, x)
    # At start-up each PAD layer prefers its own dilation (argmax in eval),
    # so the default PAD net with vanilla weights is the vanilla.
    assert_starts_as_vanilla(vanilla, PADDRN(out_indices=ALL_STAGES), x,
                             aggregation_keys(DEFAULT_PAD[('C', 26)]))


def test_pad_off_is_vanilla_d54(d54):
    off = PADDRN(arch='D', depth=54, stage_with_pad=(False, ) * 8,
                 out_indices=ALL_STAGES)
    assert_pad_off_is_vanilla(d54, off, torch.rand(1, 3, 32, 32))


@pytest.mark.parametrize('arch, depth, kwargs, names, dilations', [
    ('C', 26, {}, DEFAULT_PAD[('C', 26)], (1, 2, 4)),
    ('D', 54, {}, DEFAULT_PAD[('D', 54)], (1, 2, 4)),
    # The paper's ImageNet DRN-C-26 (Table 9): layer8 only.
    ('C', 26, dict(stage_with_pad=(False, ) * 7 + (True, )),
     ['layer8.0.conv1', 'layer8.0.conv2'], (1, 2, 4)),
    # Fine-grained DRN-C-26 (Table 10): layer7 and layer8, dilations 1, 2, 3.
    ('C', 26, dict(pad_cfg=dict(dilations=(1, 2, 3), aggregation='markov')),
     DEFAULT_PAD[('C', 26)], (1, 2, 3)),
    # Two convs per degridding layer in D-56.
    ('D', 56, {}, ['layer7.0', 'layer7.3', 'layer8.0', 'layer8.3'],
     (1, 2, 4)),
    # Arch C's layer2: the strided conv1 stays plain.
    ('C', 26, dict(stage_with_pad=(True, True) + (False, ) * 6),
     ['layer1.0.conv1', 'layer1.0.conv2', 'layer2.0.conv2'], (1, 2, 4)),
])
def test_placement(arch, depth, kwargs, names, dilations):
    device = 'meta' if depth != 26 else 'cpu'
    with torch.device(device):
        model = PADDRN(arch=arch, depth=depth, **kwargs)
    layers = dict(pad_layers(model))
    assert list(layers) == names
    for name, layer in layers.items():
        assert layer.stride == (1, 1) and layer.kernel_size == (3, 3)
        assert layer.dilations == dilations
        assert type(layer.aggregation).__name__ == 'MarkovAggregation'
        expected_dilation = 2 if name.startswith('layer7') else 1
        assert layer.dilation == (expected_dilation, ) * 2
    plain = [m for m in model.modules() if type(m) is nn.Conv2d]
    assert len(plain) + len(layers) == len(
        [m for m in model.modules() if isinstance(m, nn.Conv2d)])
    chains = {id(layer.chain) for layer in layers.values()}
    assert len(chains) == 1 and next(iter(layers.values())).chain is not None


@pytest.mark.parametrize('aggregation', [None, 'markov', 'recurrent', 'gated'])
def test_training_step_c26(aggregation):
    if aggregation is None:
        model = DRN(out_indices=(2, 7))
    else:
        model = PADDRN(out_indices=(2, 7), pad_cfg=dict(
            dilations=(1, 2, 4), aggregation=aggregation, tau=0.5))
        layer = model.layer8[0].conv2
        assert type(layer.aggregation).__name__.lower().startswith(
            aggregation)
        assert layer.tau == 0.5
    model.init_weights()
    assert_training_step_reaches_every_parameter(model,
                                                 torch.rand(2, 3, 32, 32))
    if aggregation is not None:
        assert layer.aggregation.u_h.grad.abs().sum() > 0


@pytest.mark.parametrize('aggregation', ['markov', 'recurrent', 'gated'])
def test_training_step_d54(aggregation, pad_d54):
    if aggregation == 'markov':
        model = pad_d54
    else:
        model = PADDRN(arch='D', depth=54, pad_cfg=dict(
            dilations=(1, 2, 4), aggregation=aggregation))
    assert type(model.layer8[0].aggregation).__name__.lower().startswith(
        aggregation)
    assert_training_step_reaches_every_parameter(model,
                                                 torch.rand(2, 3, 32, 32))
    assert model.layer8[0].aggregation.u_h.grad.abs().sum() > 0


def test_pretrained_c26(tmp_path, log_records):
    state = reference_checkpoint('C', 26)
    path = tmp_path / 'drn_c_26-ddedf421.pth'
    torch.save(state, path)
    models = [
        cls(init_cfg=dict(type='Pretrained', checkpoint=str(path)))
        for cls in (DRN, PADDRN)
    ]
    for model in models:
        model.init_weights()
        assert_loaded(model, state, skip=('fc.', ))
    messages = [r.getMessage() for r in log_records]
    assert sum('ignored 2 checkpoint entries' in m and 'fc.weight' in m
               for m in messages) == 2
    pad_lines = [m for m in messages if 'no PAD aggregation weights' in m]
    assert len(pad_lines) == 1
    assert 'for 4 PAD layers (layer7.0.conv1, layer7.0.conv2, ' \
        'layer8.0.conv1, layer8.0.conv2)' in pad_lines[0]
    vanilla, pad = models
    # The aggregations keep their start-up values.
    assert not pad.layer8[0].conv1.aggregation.u_h.any()

    # A strict load of the converted reference file: fc is dropped.
    converted = convert_reference_drn(state)
    assert sorted(set(state) - set(converted)) == ['fc.bias', 'fc.weight']
    result = vanilla.load_state_dict(converted)
    assert result.missing_keys == [] and result.unexpected_keys == []
    result = pad.load_state_dict(converted, strict=False)
    assert result.unexpected_keys == []
    assert result.missing_keys == aggregation_keys(DEFAULT_PAD[('C', 26)])


def test_pretrained_d54(tmp_path, d54, pad_d54, log_records):
    state = reference_checkpoint('D', 54)
    path = tmp_path / 'drn_d_54-0e0534ff.pth'
    torch.save(state, path)
    converted = convert_reference_drn(state)
    result = d54.load_state_dict(converted)
    assert result.missing_keys == [] and result.unexpected_keys == []
    result = pad_d54.load_state_dict(converted, strict=False)
    assert result.unexpected_keys == []
    assert result.missing_keys == aggregation_keys(DEFAULT_PAD[('D', 54)])

    log_records.clear()
    model = PADDRN(arch='D', depth=54,
                   init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    assert torch.equal(model.layer7[0].weight, state['layer7.0.weight'])
    assert torch.equal(model.layer6[2].bn3.running_var,
                       state['layer6.2.bn3.running_var'])
    messages = ' '.join(r.getMessage() for r in log_records)
    assert 'for 2 PAD layers (layer7.0, layer8.0)' in messages
    assert 'unexpected key' not in messages


def test_pretrained_c58_drops_unused_projection():
    shapes = reference_shapes('C', 58)
    state = {k: torch.zeros(v, device='meta') for k, v in shapes.items()}
    with torch.device('meta'):
        model = DRN(arch='C', depth=58)
    result = model.load_state_dict(convert_reference_drn(state), assign=True)
    assert result.missing_keys == [] and result.unexpected_keys == []


def test_registered():
    from mmpretrain.registry import MODELS as CLS_MODELS
    from mmseg.registry import MODELS as SEG_MODELS
    for registry in (SEG_MODELS, CLS_MODELS):
        assert registry.module_dict['DRN'] is DRN
        assert registry.module_dict['PADDRN'] is PADDRN


@pytest.mark.parametrize('kwargs, name', [
    (dict(stage_with_pad=(True, ) * 7), 'stage_with_pad'),
    (dict(stage_with_pad=(True, ) * 9), 'stage_with_pad'),
    (dict(stage_with_pad=(0, ) * 6 + (1, 1)), 'stage_with_pad'),
    # Arch D's layer2 is a single strided conv: nothing to turn into PAD.
    (dict(arch='D', depth=22, stage_with_pad=(False, True) + (False, ) * 6),
     'stage_with_pad selects layer2'),
    (dict(pad_cfg=dict(dilation=2)), 'pad_cfg'),
    (dict(pad_cfg=dict(dilations=(1, 1))), 'dilations'),
    (dict(arch='B', depth=26), "arch='B', depth=26"),
    (dict(arch='C', depth=54), "arch='C', depth=54"),
    (dict(output_stride=4), 'output_stride'),
    (dict(out_indices=(8, )), 'out_indices'),
    (dict(out_indices=(7, 2)), 'out_indices'),
    (dict(out_indices=()), 'out_indices'),
    (dict(frozen_stages=9), 'frozen_stages'),
])
def test_invalid_arguments(kwargs, name):
    with torch.device('meta'), pytest.raises(ValueError, match=name):
        PADDRN(**kwargs)


def test_converter_cli(tmp_path):
    """tools/model_converters/drn2padseg.py writes what the Pretrained init
    loads: the reference state dict without the classifier."""
    spec = importlib.util.spec_from_file_location(
        'drn2padseg',
        Path(__file__).parents[3] / 'tools/model_converters/drn2padseg.py')
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    state = reference_checkpoint('C', 26)
    src, dst = tmp_path / 'drn_c_26.pth', tmp_path / 'out' / 'drn.pth'
    torch.save(state, src)
    cli.main([str(src), str(dst)])
    written = torch.load(dst, weights_only=True)
    assert sorted(written) == sorted(k for k in state if not
                                     k.startswith('fc.'))
    result = DRN(arch='C', depth=26).load_state_dict(written)
    assert not result.missing_keys and not result.unexpected_keys
    assert not list(tmp_path.glob('out/*.part'))
