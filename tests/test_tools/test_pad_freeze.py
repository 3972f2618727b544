"""Deployment: PAD layers that chose one dilation become plain convs
(``padseg/models/freeze.py``, ``tools/deployment/pad_freeze.py``). The tool
on the main job's PAD config (nested rings, tiny generated data): shares,
the frozen config and checkpoint, val metrics before and after, the frozen
model through tools/test.py and into ONNX; the chain rule; bad input."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from onnx.reference import ReferenceEvaluator
from torch import nn

from helpers.tools import REPO, read_metrics, run_tool, write_config
from padseg.models.freeze import (FrozenPADBackbone, check_freezable,
                                  freeze_pad_layers)
from padseg.ops import PADConv2d, link_pad_chain, pad_layers

PAD_CONFIG = osp.join(REPO, 'configs', 'nested',
                      'fcn_pad-r18w16-layer1_1xb8-1k_nested-96x96.py')
TOOL = osp.join('tools', 'deployment', 'pad_freeze.py')
MIXED = 'layer1.1.conv2'  # the layer given a prior that mixes dilations


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """The PAD config on 3 val images, and a checkpoint whose PAD layers
    all pick dilation 1 (the 'base' start) except MIXED (random prior)."""
    root = tmp_path_factory.mktemp('freeze')
    run_tool(['tools/dataset_converters/make_shapes.py', '--out',
              str(root / 'data'), '--scene', 'nested', '--num-train', '2',
              '--num-val', '3', '--size', '64', '64'])
    data_root = str(root / 'data' / 'VOC2012')
    config = write_config(str(root / 'pad.py'), PAD_CONFIG, f'''
train_dataloader = dict(num_workers=0, persistent_workers=False,
                        dataset=dict(data_root={data_root!r}))
val_dataloader = train_dataloader
test_dataloader = dict(num_workers=0, persistent_workers=False,
                       dataset=dict(data_root={data_root!r},
                                    ann_file='ImageSets/Segmentation/val.txt'))
model = dict(data_preprocessor=dict(size=(64, 64)))
''')
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(config).model)
    model.init_weights()
    with torch.no_grad():
        for param in model.backbone.get_submodule(
                MIXED).aggregation.parameters():
            param.normal_(0, 3.0)
    ckpt = str(root / 'pad.pth')
    torch.save(dict(meta={}, state_dict=model.state_dict()), ckpt)
    return root, config, ckpt


@pytest.fixture(scope='module')
def frozen(trained):
    root, config, ckpt = trained
    out = str(root / 'frozen')
    done = run_tool([TOOL, config, ckpt, '--out-dir', out], timeout=900)
    report = json.load(open(osp.join(out, 'pad_frozen.json')))
    return root, report, done.stdout


def test_layers_on_one_dilation_become_plain_and_nothing_else_changes(
        frozen):
    root, report, stdout = frozen
    assert report['frozen'] == {'layer1.0.conv1': 1, 'layer1.0.conv2': 1,
                                'layer1.1.conv1': 1}
    rows = {row['layer']: row for row in report['layers']}
    assert rows[MIXED]['now'].startswith('PAD (top share')
    assert max(rows[MIXED]['shares']) < 0.99
    assert rows['layer1.0.conv1']['shares'][0] == 1.0
    # the frozen layers computed dilation 1 everywhere: the same metrics
    assert report['val_before']['mIoU'] == report['val_after']['mIoU']
    assert 'val before: aAcc' in stdout and 'forward of one val batch' in stdout
    state = torch.load(report['checkpoint'], map_location='cpu')
    keys = state['state_dict']
    assert not any(k.startswith('backbone.layer1.0.conv1.aggregation') or
                   k == 'backbone.layer1.0.conv1.tau' for k in keys)
    assert any(k.startswith(f'backbone.{MIXED}.aggregation') for k in keys)
    assert 'backbone.layer1.0.conv1.weight' in keys
    assert state['meta']['pad_freeze']['frozen'] == report['frozen']
    cfg = Config.fromfile(report['config'])
    assert cfg.model.backbone.type == 'FrozenPADBackbone'
    assert cfg.model.backbone.backbone.type == 'PADResNetV1c'


def test_the_frozen_model_runs_through_tools_test_and_exports_to_onnx(
        frozen):
    root, report, _ = frozen
    work = str(root / 'test_frozen')
    run_tool(['tools/test.py', report['config'], report['checkpoint'],
              '--work-dir', work])
    assert read_metrics(work)['mIoU'] == pytest.approx(
        report['val_after']['mIoU'], abs=1e-6)
    from mmseg.apis import init_model
    model = init_model(report['config'], report['checkpoint'], device='cpu')
    backbone = model.backbone
    conv = backbone.layer1[0].conv1
    assert type(conv) is nn.Conv2d and conv.dilation == (1, 1)
    assert [n for n, _ in pad_layers(backbone)] == [MIXED]

    class Logits(nn.Module):
        def __init__(self, segmentor):
            super().__init__()
            self.segmentor = segmentor

        def forward(self, x):
            return self.segmentor(x, mode='tensor')

    net = Logits(model).eval()
    x = torch.randn(1, 3, 32, 32)
    path = str(root / 'frozen.onnx')
    torch.onnx.export(net, (x, ), path, input_names=['x'],
                      output_names=['logits'], dynamo=False,
                      opset_version=17)
    graph = onnx.load(path)
    onnx.checker.check_model(graph)
    (got, ) = ReferenceEvaluator(graph).run(None, {'x': x.numpy()})
    with torch.no_grad():
        expected = net(x).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)


def test_it_never_overwrites_and_names_bad_arguments(trained, frozen):
    root, config, ckpt = trained
    out = str(root / 'frozen')
    env = dict(os.environ, PYTHONPATH=REPO)
    plain = str(root / 'plain.py')
    with open(config) as f:  # the same data, the regular network
        text = f.read().replace('fcn_pad-r18w16', 'fcn_r18w16')
    with open(plain, 'w') as f:
        f.write(text)
    for args, message in (
            ([plain, ckpt, '--out-dir', str(root / 'plain_out')],
             'has no PAD layer in its backbone'),
            ([config, ckpt, '--out-dir', out], 'exists; pass --overwrite'),
            ([config, ckpt, '--threshold', '0.3'], '--threshold must be'),
            ([config, ckpt + '.missing'], 'checkpoint not found')):
        done = subprocess.run([sys.executable, TOOL, *args], cwd=REPO,
                              env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode != 0 and message in done.stderr, done.stderr


def chained_net(aggregation):
    net = nn.Sequential(*(PADConv2d(4, 4, 3, padding=1,
                                    aggregation=aggregation)
                          for _ in range(3)))
    link_pad_chain(net)
    return net


def test_a_layer_whose_prior_a_kept_chained_layer_reads_stays_pad():
    net = chained_net('recurrent')
    assert check_freezable(net, ['1', '2']) == {}  # a suffix of the chain
    blocked = check_freezable(net, ['0', '2'])
    assert set(blocked) == {'0'} and "feeds '1'" in blocked['0']
    with pytest.raises(ValueError, match="'0' cannot become a plain"):
        freeze_pad_layers(net, {'0': 1, '2': 1})
    assert check_freezable(chained_net('markov'), ['0']) == {}


def test_a_frozen_layer_computes_its_candidates_convolution():
    torch.manual_seed(0)
    net = chained_net('markov').eval()
    with torch.no_grad():  # every pixel of layer 1 picks dilation 4
        net[1].aggregation.u_h_bias.copy_(torch.tensor([0.0, 0.0, 50.0]))
    x = torch.randn(2, 4, 9, 9)
    with torch.no_grad():
        expected = net(x)
    freeze_pad_layers(net, {'1': 4})
    assert type(net[1]) is nn.Conv2d and net[1].dilation == (4, 4)
    with torch.no_grad():
        torch.testing.assert_close(net(x), expected)
    with pytest.raises(ValueError, match="'2' has dilations"):
        freeze_pad_layers(net, {'2': 3})
    with pytest.raises(ValueError, match="'1' is not a PAD layer"):
        freeze_pad_layers(net, {'1': 4})


def test_frozen_backbone_builds_from_a_config():
    init_default_scope('mmseg')
    backbone = dict(type='PADBackbone', backbone=dict(type='ResNetV1c',
                                                      depth=18),
                    pad_layers=['layer4.*.conv2'])
    net = FrozenPADBackbone(backbone, {'layer4.0.conv2': 2})
    assert type(net.layer4[0].conv2) is nn.Conv2d
    assert net.layer4[0].conv2.dilation == (2, 2)
    assert [n for n, _ in pad_layers(net)] == ['layer4.1.conv2']
    with pytest.raises(ValueError, match='FrozenPADBackbone needs'):
        FrozenPADBackbone('ResNetV1c', {})


def test_freezing_keeps_the_chains_of_the_other_branches():
    """HRNet-like branches, a Recurrent chain each: freezing the last layer
    of one branch leaves every remaining layer on its own branch's chain."""
    from padseg.models.backbones.pad_backbone import link_branch_chains

    class Branches(nn.Module):
        def __init__(self):
            super().__init__()
            self.branches = nn.ModuleList(
                nn.Sequential(*(PADConv2d(4, 4, 3, padding=1,
                                          aggregation='recurrent')
                                for _ in range(2))) for _ in range(2))

        def forward(self, x):
            return [branch(x) for branch in self.branches]

    net = Branches()
    link_branch_chains(net)
    chain = {name: layer.chain for name, layer in pad_layers(net)}
    assert chain['branches.0.0'] is not chain['branches.1.0']
    freeze_pad_layers(net, {'branches.0.1': 1})
    after = {name: layer.chain for name, layer in pad_layers(net)}
    assert after == {k: v for k, v in chain.items() if k != 'branches.0.1'}
    with torch.no_grad():
        net(torch.randn(1, 4, 6, 6))
    assert all(c.prior is None for c in after.values())  # reset after
