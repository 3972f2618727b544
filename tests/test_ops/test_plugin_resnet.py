"""PAD through mmseg's own ResNetV1c ``dcn=`` slot, and checkpoint rules."""
import torch
from mmseg.models.backbones import ResNetV1c
from mmseg.registry import MODELS

from padseg.ops import PADConv2d, link_pad_chain, pad_layers

PAD_DCN = dict(type='PAD', dilations=(1, 2, 4), aggregation='gated',
               fallback_on_stride=False)


def build(dcn=None):
    cfg = dict(type='ResNetV1c', depth=50, base_channels=16, stem_channels=16,
               num_stages=4, strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2),
               out_indices=(0, 3), norm_cfg=dict(type='BN'))
    if dcn is not None:
        cfg.update(dcn=dcn, stage_with_dcn=(False, False, False, True))
    return MODELS.build(cfg)


def test_resnetv1c_dcn_slot_builds_pad_in_the_chosen_stage():
    model = build(dict(PAD_DCN))
    names = [name for name, _ in pad_layers(model)]
    assert names == ['layer4.0.conv2', 'layer4.1.conv2', 'layer4.2.conv2']
    assert all(layer.candidate_dilations == [(2, 2), (4, 4), (8, 8)]
               for _, layer in pad_layers(model))


def test_resnetv1c_with_pad_trains_a_step_and_evaluates():
    model = build(dict(PAD_DCN))
    link_pad_chain(model)
    model.train()
    x = torch.randn(2, 3, 64, 64)
    outs = model(x)
    assert [tuple(o.shape) for o in outs] == [(2, 64, 16, 16), (2, 512, 4, 4)]
    sum(o.mean() for o in outs).backward()
    assert all(p.grad is not None for p in model.parameters()
               if p.requires_grad)
    model.eval()
    with torch.no_grad():
        first, second = model(x)[1], model(x)[1]
    torch.testing.assert_close(first, second, rtol=0, atol=0)


def test_plain_checkpoint_loads_with_only_prior_weights_missing():
    plain = build()
    pad = build(dict(PAD_DCN))
    missing, unexpected = pad.load_state_dict(plain.state_dict(),
                                              strict=False)
    assert unexpected == []
    assert missing and all('.aggregation.' in key for key in missing)
    expected = {f'layer4.{i}.conv2.aggregation.{p}' for i in range(3)
                for p in ('u_h', 'u_h_bias', 'w_h', 'w_a', 'u_a', 'u_a_bias')}
    assert set(missing) == expected
    # a fresh prior prefers the base dilation: in eval the PAD network is the
    # plain network exactly
    plain.eval()
    pad.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(pad(x)[1], plain(x)[1], rtol=0, atol=0)
    assert all(isinstance(m, PADConv2d) for _, m in pad_layers(pad))
