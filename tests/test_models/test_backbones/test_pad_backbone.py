"""``PADBackbone``: PAD in backbones padseg has no PAD form of (mmseg's
ResNeSt, MobileNetV3, UNet; mmpretrain's ResNet), from a config: the named
convolutions become PAD layers with their weights and keys, the network
starts as the plain one, one chain, frozen stages stay frozen, clear errors;
and a ResNeSt config trains and tests through tools/train.py and
tools/test.py."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.registry import init_default_scope
from torch import nn

from helpers.tools import (REPO, read_metrics, run_tool, short_schedule,
                           tiny_voc_data, write_config)
from padseg.ops import pad_layers

RESNEST = dict(type='ResNeSt', depth=50, stem_channels=16, base_channels=16,
               frozen_stages=-1)
MOBILENET_V3 = dict(type='MobileNetV3', arch='small', out_indices=(0, 1, 12))
FOREIGN = [
    (RESNEST, ['layer4.*.conv2.conv'], 3),
    (MOBILENET_V3, ['layer[78].depthwise_conv.conv',
                    'layer1[01].depthwise_conv.conv'], 4),
    (dict(type='UNet', base_channels=8, num_stages=3, strides=(1, 1, 1),
          enc_num_convs=(1, 1, 1), dec_num_convs=(1, 1),
          downsamples=(True, True), enc_dilations=(1, 1, 1),
          dec_dilations=(1, 1)), ['encoder.*.convs.0.conv'], 3),
]


def build(cfg, scope='mmseg'):
    init_default_scope(scope)
    if scope == 'mmseg':
        from mmseg.registry import MODELS
    else:
        from mmpretrain.registry import MODELS
    return MODELS.build(copy.deepcopy(cfg))


def outputs(model, x):
    out = model(x)
    return list(out) if isinstance(out, (list, tuple)) else [out]


@pytest.mark.parametrize('backbone,patterns,count', FOREIGN,
                         ids=['ResNeSt', 'MobileNetV3', 'UNet'])
def test_named_convs_become_pad_and_the_network_starts_plain(
        backbone, patterns, count):
    torch.manual_seed(0)
    plain = build(backbone)
    torch.manual_seed(0)
    pad = build(dict(type='PADBackbone', backbone=backbone,
                     pad_layers=patterns))
    assert type(pad) is type(plain)  # the user's backbone, not a wrapper
    layers = dict(pad_layers(pad))
    assert len(layers) == count
    chains = {id(layer.chain) for layer in layers.values()}
    assert len(chains) == 1 and None not in {l.chain for l in layers.values()}
    plain_keys, pad_keys = set(plain.state_dict()), set(pad.state_dict())
    assert plain_keys <= pad_keys  # checkpoints of the plain network load
    assert all('.aggregation.' in k or k.endswith('.tau')
               for k in pad_keys - plain_keys)
    missing = pad.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and all('.aggregation.' in k for k in missing)
    x = torch.randn(2, 3, 64, 64)
    pad.eval()  # mmseg's backbones' train() returns None: no chaining
    plain.eval()
    with torch.no_grad():  # base start-up: every pixel at the conv's dilation
        for a, b in zip(outputs(pad, x), outputs(plain, x)):
            torch.testing.assert_close(a, b)
    pad.train()
    sum(o.sum() for o in outputs(pad, x)).backward()
    assert all(layer.aggregation.u_h.grad is not None
               for layer in layers.values())


def test_frozen_stages_stay_frozen_with_their_new_weights():
    pad = build(dict(type='PADBackbone',
                     backbone=dict(RESNEST, frozen_stages=4),
                     pad_layers=['layer4.*.conv2.conv']))
    layers = dict(pad_layers(pad))
    assert layers and not any(p.requires_grad for layer in layers.values()
                              for p in layer.parameters())


def test_in_mmpretrains_scope_too():
    pytest.importorskip('mmpretrain')
    pad = build(dict(type='PADBackbone',
                     backbone=dict(type='ResNet', depth=18),
                     pad_layers=['layer4.*.conv2']), scope='mmpretrain')
    assert len(dict(pad_layers(pad))) == 2
    assert pad(torch.randn(1, 3, 64, 64))[-1].shape[1] == 512


@pytest.mark.parametrize('patterns,match', [
    (['layer9.*'], "'layer9.\\*' matches no module of ResNeSt"),
    (['layer4.0.conv2'], "matches 'layer4.0.conv2', a SplitAttentionConv2d"),
    (['layer4.0.conv1'], "'layer4.0.conv1': .*kernel_size must be odd"),
    ('layer4.*.conv2.conv', 'non-empty list of module name patterns'),
    ([], 'non-empty list'),
])
def test_a_pattern_that_names_no_convolution_is_named(patterns, match):
    with pytest.raises(ValueError, match=match):
        build(dict(type='PADBackbone', backbone=RESNEST,
                   pad_layers=patterns))


def test_a_conv_of_another_type_is_named():
    """MobileNetV3's strided depthwise convs are mmcv's adaptive-padding
    convs: not plain nn.Conv2d."""
    with pytest.raises(ValueError, match='a Conv2dAdaptivePadding'):
        build(dict(type='PADBackbone', backbone=MOBILENET_V3,
                   pad_layers=['layer1.depthwise_conv.conv']))


def test_bad_backbone_and_pad_cfg_are_named():
    with pytest.raises(ValueError, match='backbone=dict'):
        build(dict(type='PADBackbone', backbone='ResNeSt',
                   pad_layers=['x']))
    with pytest.raises(ValueError, match="unknown key.*'dilation'"):
        build(dict(type='PADBackbone', backbone=RESNEST,
                   pad_layers=['layer4.*.conv2.conv'],
                   pad_cfg=dict(dilation=(1, 2))))


def test_candidates_tool_lists_the_names_patterns_match(tmp_path):
    cfg = write_config(str(tmp_path / 'resnest.py'), osp.join(
        REPO, 'configs/digits/deeplabv3plus_r18w16-os8_1xb8-1k_digits-96x96.py'),
        f'model = dict(backbone=dict(_delete_=True, type="PADBackbone", '
        f'backbone={RESNEST!r}, pad_layers=["layer4.*.conv2.conv"]))\n')
    out = run_tool(['tools/analysis/pad_candidates.py', cfg]).stdout
    assert '# ResNeSt of' in out
    assert '| layer4.1.conv2.conv | (3, 3) | (1, 1) | (1, 1) | 2 | PAD layer |' \
        in out
    assert '| layer3.0.conv2.conv | (3, 3) |' in out and '| can be |' in out


def test_a_resnest_config_trains_and_tests_through_the_tools(tmp_path):
    from digits_scenes import make_digits_voc
    make_digits_voc(str(tmp_path / 'data'), num_train=4, num_val=2,
                    image_size=(64, 64), seed=0)
    voc = str(tmp_path / 'data' / 'VOC2012')
    body = tiny_voc_data(voc) + short_schedule(2, 2) + f'''
model = dict(
    backbone=dict(_delete_=True, type='PADBackbone',
                  backbone=dict({RESNEST!r}, dilations=(1, 1, 2, 4),
                                strides=(1, 2, 1, 1), contract_dilation=True),
                  pad_layers=['layer4.*.conv2.conv'],
                  pad_cfg=dict(dilations=(1, 2, 4), prior_init='uniform')),
    decode_head=dict(in_channels=512, c1_in_channels=64))
'''
    cfg = write_config(str(tmp_path / 'pad_resnest.py'), osp.join(
        REPO, 'configs/digits/deeplabv3plus_r18w16-os8_1xb8-1k_digits-96x96.py'),
        body)
    work = tmp_path / 'work'
    run_tool(['tools/train.py', cfg, '--work-dir', str(work)])
    checkpoint = work / 'iter_2.pth'
    state = torch.load(str(checkpoint), map_location='cpu',
                       weights_only=False)['state_dict']
    assert 'backbone.layer4.0.conv2.conv.aggregation.u_h' in state
    run_tool(['tools/test.py', cfg, str(checkpoint), '--work-dir',
              str(tmp_path / 'test')])
    assert 'mIoU' in read_metrics(str(tmp_path / 'test'))


def stock_config(name):
    """A config of mmseg's own (the wheel's .mim/configs), as it is."""
    import mmseg
    from mmengine.config import Config
    return Config.fromfile(osp.join(osp.dirname(mmseg.__file__), '.mim',
                                    'configs', name))


def test_a_stock_config_with_model_level_pretrained_builds_and_loads(
        tmp_path):
    """mmseg's fcn_r18-d8 config as it is but for the backbone line (and a
    local checkpoint for its open-mmlab:// one: nothing is downloaded here):
    the segmentor hands ``pretrained`` to PADBackbone, which hands it to the
    wrapped ResNetV1c, whose plain checkpoint then loads."""
    cfg = stock_config('fcn/fcn_r18-d8_4xb2-80k_cityscapes-512x1024.py')
    assert cfg.model.pretrained == 'open-mmlab://resnet18_v1c'
    plain = build(dict(cfg.model.backbone))
    checkpoint = str(tmp_path / 'resnet18_v1c.pth')
    torch.save(plain.state_dict(), checkpoint)
    cfg.model.pretrained = checkpoint
    cfg.model.backbone = dict(type='PADBackbone',
                              backbone=cfg.model.backbone,
                              pad_layers=['layer4.*.conv2'])
    segmentor = build(cfg.model)
    segmentor.init_weights()
    backbone = segmentor.backbone
    assert type(backbone) is type(plain)
    assert len(dict(pad_layers(backbone))) == 2
    for key, value in plain.state_dict().items():
        torch.testing.assert_close(backbone.state_dict()[key], value)
    # one place for each: the segmentor's and the backbone's both set
    both = dict(type='PADBackbone',
                backbone=dict(cfg.model.backbone.backbone,
                              pretrained=checkpoint),
                pad_layers=['layer4.*.conv2'], pretrained=checkpoint)
    with pytest.raises(ValueError, match='pretrained both'):
        build(both)
    init = dict(type='PADBackbone', backbone=dict(type='ResNetV1c', depth=18),
                pad_layers=['layer4.*.conv2'],
                init_cfg=dict(type='Pretrained', checkpoint=checkpoint))
    model = build(init)
    model.init_weights()
    for key, value in plain.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value)


def test_mmcvs_conv2d_wrapper_becomes_pad_and_a_refusal_says_why():
    """mmcv's Conv2d (SegFormer's MixFFN uses it) computes a plain
    convolution and becomes PAD; a subclass that changes the computation is
    refused with its name, the reason and what to do instead."""
    from mmcv.cnn.bricks import Conv2dAdaptivePadding
    from mmcv.cnn.bricks.wrappers import Conv2d as MMCVConv2d
    from padseg.models.utils import plain_conv_refusal, replace_with_pad

    class Standardised(nn.Conv2d):  # e.g. weight standardisation
        def forward(self, x):
            w = self.weight - self.weight.mean((1, 2, 3), keepdim=True)
            return self._conv_forward(x, w, self.bias)

    net = nn.Sequential(MMCVConv2d(4, 4, 3, padding=1),
                        Conv2dAdaptivePadding(4, 4, 3),
                        Standardised(4, 4, 3, padding=1))
    torch.manual_seed(0)
    x = torch.randn(1, 4, 8, 8)
    plain_out = net[0](x)
    assert plain_conv_refusal(net[0]) is None
    layer = replace_with_pad(net, '0', dict(dilations=(1, 2)))
    torch.testing.assert_close(layer.eval()(x), plain_out)  # starts plain
    assert 'already a PAD layer' in plain_conv_refusal(layer)
    for index, kind in ((1, 'Conv2dAdaptivePadding'), (2, 'Standardised')):
        with pytest.raises(ValueError, match=f'a {kind}, whose forward is '
                           'not a plain convolution'):
            replace_with_pad(net, str(index), {})
    with pytest.raises(ValueError, match="matches 'layer4.0.conv2', a "
                       'SplitAttentionConv2d, not an nn.Conv2d; PAD replaces '
                       'plain convolutions only: name a plain conv'):
        build(dict(type='PADBackbone', backbone=RESNEST,
                   pad_layers=['layer4.0.conv2']))
