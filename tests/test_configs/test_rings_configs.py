"""The main job's configs (configs/rings/): the fixed dilation of layer1
sets the receptive field (the reason the benchmark tells dilations apart),
the PAD twin trains its priors at 10x the network's learning rate through
MMEngine's own optimizer constructor, and the data the configs read is the
rings the generator writes."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

import padseg  # noqa: F401  (registers the PAD backbones)
from mmseg.registry import MODELS
from padseg.analysis import theoretical_receptive_field
from padseg.ops import pad_layers

from helpers import REPO

REGULAR = 'configs/rings/fcn_r18w16-layer1_1xb8-2k_rings-96x96.py'
PAD = 'configs/rings/fcn_pad-r18w16-layer1_1xb8-2k_rings-96x96.py'


def build(config, **options):
    cfg = Config.fromfile(osp.join(REPO, config))
    cfg.merge_from_dict(options)
    with DefaultScope.overwrite_default_scope('mmseg'):
        return cfg, revert_sync_batchnorm(MODELS.build(cfg.model)).eval()


@pytest.mark.parametrize('dilation, extent', [(1, 47), (2, 63), (4, 95)])
def test_layer1_dilation_sets_the_receptive_field(dilation, extent):
    """mmseg's ResNet dilates the first 3x3 conv of each BasicBlock of a
    stage (conv2 stays at 1): the theoretical field of layer1 is 47, 63 and
    95 px at dilations 1, 2 and 4 (the configs' comment and
    docs/pad_layer.md, study 5), against rings of up to 90 px."""
    _, model = build(REGULAR, **{'model.backbone.dilations': (dilation, )})
    convs = {n: m.dilation for n, m in model.backbone.layer1.named_modules()
             if isinstance(m, torch.nn.Conv2d)}
    assert convs == {'0.conv1': (dilation, ) * 2, '0.conv2': (1, 1),
                     '1.conv1': (dilation, ) * 2, '1.conv2': (1, 1)}
    mask = theoretical_receptive_field(model, torch.rand(1, 3, 256, 256),
                                       'backbone.layer1')
    rows = mask.any(1).nonzero()
    assert int(rows.max() - rows.min() + 1) == extent


def test_pad_layers_reach_further_than_any_fixed_model():
    """The PAD twin's four layers draw from 1, 2 and 4 each: at their
    largest the field is 143 px (a uniform input and a prior that favours
    the largest candidate everywhere)."""
    _, model = build(PAD)
    for _, layer in padseg.ops.pad_layers(model):
        with torch.no_grad():
            layer.aggregation.u_h_bias.copy_(torch.tensor([-9.0, -9.0, 9.0]))
    mask = theoretical_receptive_field(model, torch.rand(1, 3, 256, 256),
                                       'backbone.layer1')
    rows = mask.any(1).nonzero()
    assert int(rows.max() - rows.min() + 1) == 143


def test_pad_twin_trains_its_priors_ten_times_faster():
    """By the layer's default prior_gain (10), not by the optimizer: one
    learning rate for every parameter, as in a user's own loop."""
    cfg, model = build(PAD)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert {g['lr'] for g in wrapper.optimizer.param_groups} == {1e-3}
    layers = dict(pad_layers(model))
    assert len(layers) == 4
    assert all(layer.aggregation.gain == 10.0 for layer in layers.values())
    # the regular network has one rate for everything too
    cfg, model = build(REGULAR)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert {g['lr'] for g in wrapper.optimizer.param_groups} == {1e-3}


def test_the_twins_differ_only_in_the_pad_layers():
    regular, pad = Config.fromfile(osp.join(REPO, REGULAR)), \
        Config.fromfile(osp.join(REPO, PAD))
    assert regular.model.decode_head == pad.model.decode_head
    assert regular.train_dataloader == pad.train_dataloader
    assert regular.train_cfg == pad.train_cfg
    assert pad.model.backbone.type == 'PADResNetV1c'
    assert pad.model.backbone.stage_with_pad == (True, )
    assert regular.metainfo['classes'] == ('background', 'red', 'green',
                                           'blue')
