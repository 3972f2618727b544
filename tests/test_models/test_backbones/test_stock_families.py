"""PAD in the model a user already has: mmseg's (and mmpretrain's) stock
configs, only the backbone line changed to
``dict(type='PADBackbone', backbone=<as it was>)``. The default placement
(the deepest stage's stride-1 kxk convolutions, padseg/models/placement.py)
on 11 backbone families: each builds, runs forward and backward on a small
batch in training mode, and every PAD layer's prior gets a gradient. Plus
the placement rule itself, chains per HRNet branch, checkpointing at any
depth, SyncBN, frozen stages, and pad_candidates.py printing the default."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import nn

from helpers.tools import REPO, run_tool, write_config
from padseg.models.placement import default_pad_layers
from padseg.ops import PADConv2d, pad_layers

#: family -> (stock config under mmseg's .mim/configs, what the default
#: placement chooses: how many PAD layers, and a pattern they all match)
FAMILIES = {
    'ResNetV1c': ('fcn/fcn_r50-d8_4xb2-40k_cityscapes-512x1024.py', 3,
                  'layer4.*.conv2'),
    'HRNet': ('hrnet/fcn_hr18s_4xb2-40k_cityscapes-512x1024.py', 8,
              'stage4.*.branches.3.*'),
    'MobileNetV3': ('mobilenet_v3/mobilenet-v3-d8_lraspp_4xb4-320k_'
                    'cityscapes-512x1024.py', 9, 'layer*.depthwise_conv.conv'),
    'MixVisionTransformer': ('segformer/segformer_mit-b0_8xb2-160k_ade20k-'
                             '512x512.py', 2, 'layers.3.1.*.ffn.layers.1'),
    'MSCAN': ('segnext/segnext_mscan-t_1xb16-adamw-160k_ade20k-512x512.py',
              4, 'block4.*'),
    'BiSeNetV2': ('bisenetv2/bisenetv2_fcn_4xb4-160k_cityscapes-'
                  '1024x1024.py', 8, 'semantic.stage4*'),
    'STDCContextPathNet': ('stdc/stdc1_4xb12-80k_cityscapes-512x1024.py', 6,
                           'backbone.stages.4.*'),
    'CGNet': ('cgnet/cgnet_fcn_4xb4-60k_cityscapes-680x680.py', 42,
              'level2.*'),
    'UNet': ('unet/unet-s5-d16_fcn_4xb4-160k_cityscapes-512x1024.py', 2,
             'encoder.4.*'),
    'ResNeSt': ('resnest/resnest_s101-d8_fcn_4xb2-80k_cityscapes-'
                '512x1024.py', 3, 'layer4.*.conv2.conv'),
    'ConvNeXt': ('convnext/convnext-tiny_upernet_8xb2-amp-160k_ade20k-'
                 '512x512.py', 3, 'stages.3.*.depthwise_conv'),
}


def stock_backbone(path):
    """The stock config's backbone as it is, but for what cannot run here:
    SyncBN as BN (one CPU process), no download of pretrained weights, no
    stochastic depth (a dropped block's prior gets no gradient, by
    design)."""
    import mmseg
    cfg = Config.fromfile(osp.join(osp.dirname(mmseg.__file__), '.mim',
                                   'configs', path))
    backbone = cfg.model.backbone.to_dict()

    def clean(node):
        if isinstance(node, dict):
            if node.get('type') == 'SyncBN':
                node['type'] = 'BN'
            if isinstance(node.get('init_cfg'), dict) and node[
                    'init_cfg'].get('type') == 'Pretrained':
                node['init_cfg'] = None
            for key in ('pretrained', 'drop_path_rate'):
                if node.get(key):
                    node[key] = None if key == 'pretrained' else 0.0
            for value in node.values():
                clean(value)
        elif isinstance(node, list):
            for value in node:
                clean(value)

    clean(backbone)
    return backbone


def build(cfg):
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    return MODELS.build(copy.deepcopy(cfg))


@pytest.mark.parametrize('family', FAMILIES)
def test_a_stock_backbone_takes_pad_by_default_and_trains(family):
    import fnmatch
    path, count, pattern = FAMILIES[family]
    torch.manual_seed(0)
    net = build(dict(type='PADBackbone', backbone=stock_backbone(path)))
    assert type(net).__name__ == family
    names = [name for name, _ in pad_layers(net)]
    assert len(names) == count, names
    assert all(fnmatch.fnmatchcase(n, pattern) for n in names), names
    net.train()
    outs = net(torch.randn(2, 3, 64, 64))
    outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
    sum(o.float().square().mean() for o in outs).backward()
    for name, layer in pad_layers(net):
        assert layer.weight.grad is not None, name
        assert any(p.grad is not None and p.grad.abs().sum() > 0
                   for p in layer.aggregation.parameters()), name


def test_the_default_is_the_last_stage_at_the_lowest_resolution():
    """ResNet-D8 keeps layer3 and layer4 at 1/8: layer4's 3x3s (stride 1);
    the same ResNet without dilation: layer4's too, its strided first conv2
    included only when stride 1 (ResNetV1c puts the stride on conv2)."""
    dilated = build(dict(type='ResNetV1c', depth=18, strides=(1, 2, 1, 1),
                         dilations=(1, 1, 2, 4)))
    assert default_pad_layers(dilated) == [
        'layer4.0.conv1', 'layer4.0.conv2', 'layer4.1.conv1',
        'layer4.1.conv2']
    plain = build(dict(type='ResNetV1c', depth=18))
    assert default_pad_layers(plain) == ['layer4.0.conv2', 'layer4.1.conv1',
                                         'layer4.1.conv2']
    dilated.train()
    default_pad_layers(dilated)  # the probe restores the modes
    assert dilated.training and dilated.layer1.training
    with pytest.raises(ValueError, match='no default PAD placement'):
        default_pad_layers(nn.Sequential(nn.Conv2d(3, 4, 1)))


def test_the_default_placement_is_logged_and_pad_layers_overrides_it(
        monkeypatch):
    from padseg.models.backbones import pad_backbone
    logged = []
    monkeypatch.setattr(pad_backbone, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    net = build(dict(type='PADBackbone',
                     backbone=dict(type='ResNetV1c', depth=18)))
    assert len(logged) == 1
    assert ('PADBackbone: default placement in ResNetV1c' in logged[0]
            and 'layer4.1.conv2' in logged[0])
    assert len(dict(pad_layers(net))) == 3
    named = build(dict(type='PADBackbone',
                       backbone=dict(type='ResNetV1c', depth=18),
                       pad_layers=['layer3.1.conv2']))
    assert list(dict(pad_layers(named))) == ['layer3.1.conv2']


def test_hrnet_branches_get_a_chain_each():
    """A Recurrent chain across HRNet's parallel branches would hand one
    branch's prior to another at another resolution: one chain per branch,
    each reset around every forward pass."""
    backbone = stock_backbone(FAMILIES['HRNet'][0])
    net = build(dict(type='PADBackbone', backbone=backbone,
                     pad_layers=['stage4.*.branches.[23].0.conv2'],
                     pad_cfg=dict(aggregation='recurrent')))
    layers = dict(pad_layers(net))
    chains = {}
    for name, layer in layers.items():
        chains.setdefault(name.split('branches.')[1][0], set()).add(
            id(layer.chain))
    assert set(chains) == {'2', '3'}
    assert all(len(ids) == 1 for ids in chains.values())
    assert chains['2'] != chains['3']
    net.eval()
    with torch.no_grad():
        net(torch.randn(1, 3, 64, 64))
    assert all(layer.chain.prior is None for layer in layers.values())


def test_checkpointing_inside_blocks_is_refused_with_chained_priors():
    """mmpretrain's ConvNeXt keeps ``with_cp`` on its blocks, not on the
    backbone: a Recurrent chain with re-computed blocks is refused."""
    backbone = dict(type='mmpretrain.ConvNeXt', arch='atto', with_cp=True,
                    drop_path_rate=0.0)
    with pytest.raises(ValueError, match='with_cp=True cannot be combined'):
        build(dict(type='PADBackbone', backbone=backbone,
                   pad_cfg=dict(aggregation='recurrent')))
    net = build(dict(type='PADBackbone', backbone=backbone))  # Markov
    assert all(block.with_cp for block in net.stages[3])
    assert len(dict(pad_layers(net))) == 2


def test_syncbn_and_frozen_stages_of_a_stock_config_stay_as_they_were():
    """SyncBN builds as it is (tools turn it into BN on a CPU); the frozen
    stages' PAD layers get no gradient and stay in eval mode."""
    backbone = copy.deepcopy(stock_backbone(FAMILIES['ResNetV1c'][0]))
    backbone['norm_cfg'] = dict(type='SyncBN', requires_grad=True)
    backbone['frozen_stages'] = 4
    net = build(dict(type='PADBackbone', backbone=backbone))
    assert any(type(m).__name__ == 'SyncBatchNorm' for m in net.modules())
    net.train()
    for _, layer in pad_layers(net):
        assert not layer.training
        assert not any(p.requires_grad for p in layer.parameters())


def test_pad_candidates_prints_the_default(tmp_path):
    config = write_config(str(tmp_path / 'stock_pad.py'), osp.join(
        REPO, 'configs', 'nested', 'fcn_r18w16-layer1_1xb8-1k_nested-'
        '96x96.py'), '''
custom_imports = dict(imports=['padseg'], allow_failed_imports=False)
model = dict(backbone=dict(_delete_=True, type='PADBackbone',
                           backbone=dict(type='ResNetV1c', depth=18)))
''')
    out = run_tool(['tools/analysis/pad_candidates.py', config]).stdout
    assert ('default placement (pad_layers not given): layer4.0.conv2, '
            'layer4.1.conv1, layer4.1.conv2') in out
    assert '| layer4.1.conv2 | (3, 3) | (1, 1) | (1, 1) | 1 | PAD layer |' \
        in out
    plain = str(tmp_path / 'plain.py')
    write_config(plain, osp.join(REPO, 'configs', 'nested',
                                 'fcn_r18w16-layer1_1xb8-1k_nested-'
                                 '96x96.py'))
    out = run_tool(['tools/analysis/pad_candidates.py', plain]).stdout
    assert 'default placement (PADBackbone without pad_layers):' in out
    assert isinstance(PADConv2d, type)
