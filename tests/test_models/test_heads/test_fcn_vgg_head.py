import math

import mmseg.models  # noqa: F401  (registers EncoderDecoder, losses)
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch import nn

from padseg.models.backbones.vgg import FCNVGG
from padseg.models.decode_heads.fcn_vgg_head import (BilinearDeconv,
                                                     FCN8sHead, FCN32sHead,
                                                     bilinear_kernel)

# Small widths: pool3, pool4 and fc7 have 16, 32 and 8 channels.
SMALL = dict(base_channels=4, fc_channels=8)
HEADS = {
    'FCN32sHead': dict(type='FCN32sHead', in_channels=8),
    'FCN8sHead': dict(type='FCN8sHead', in_channels=(16, 32, 8)),
}


def test_bilinear_kernel():
    assert bilinear_kernel(4)[0].tolist() == [
        0.0625, 0.1875, 0.1875, 0.0625
    ]
    assert bilinear_kernel(4)[1].tolist() == [0.1875, 0.5625, 0.5625, 0.1875]


@pytest.mark.parametrize('factor', [2, 8, 32])
@pytest.mark.parametrize('learnable', [True, False])
def test_bilinear_deconv_interpolates(factor, learnable):
    deconv = BilinearDeconv(3, factor, learnable)
    assert deconv.weight.requires_grad == learnable
    assert deconv.groups == (1 if learnable else 3)
    # A linear ramp comes out as the ramp sampled at (o - f + 1/2) / f.
    ramp = torch.arange(6.).expand(1, 3, 6, 6).transpose(2, 3).contiguous()
    out = deconv(ramp)
    assert out.shape == (1, 3, 6 * factor + factor, 6 * factor + factor)
    inner = torch.arange(factor, 6 * factor)
    expected = (inner - factor + 0.5) / factor
    torch.testing.assert_close(out[0, 1, inner, 2 * factor],
                               expected.float())
    with torch.no_grad():
        deconv.weight.add_(1)
    deconv.init_weights()
    assert torch.equal(deconv(ramp), out)


def test_offsets_of_the_reference():
    assert FCN32sHead(in_channels=8, num_classes=2).image_offset == 19
    head = FCN8sHead(in_channels=(16, 32, 8), num_classes=2)
    assert head.skip_offsets == (5, 9)
    assert head.image_offset == 31
    # With a 1-pixel padding the scores no longer reach the image border.
    assert FCN32sHead(in_channels=8, num_classes=2,
                      input_padding=1).image_offset == -80
    head = FCN8sHead(in_channels=(16, 32, 8), num_classes=2, input_padding=1)
    assert head.skip_offsets == (5, 9)
    assert head.image_offset == -68


def test_initial_state():
    head = FCN8sHead(in_channels=(16, 32, 8), num_classes=3)
    for layer in (head.conv_seg, head.score_pool4, head.score_pool3):
        nn.init.normal_(layer.weight)
    head.init_weights()
    for layer in (head.conv_seg, head.score_pool4, head.score_pool3):
        assert not layer.weight.any() and not layer.bias.any()
    assert [head.upscore2.weight.requires_grad,
            head.upscore_pool4.weight.requires_grad,
            head.upscore8.weight.requires_grad] == [True, True, False]
    assert torch.equal(head.upscore8.weight[2, 0], bilinear_kernel(16))
    assert torch.equal(head.upscore2.weight[1, 1], bilinear_kernel(4))
    assert not head.upscore2.weight[0, 1].any()
    assert head.dropout is None
    assert not FCN32sHead(in_channels=8,
                          num_classes=3).upscore.weight.requires_grad


def test_at_once_scales_the_skips():
    torch.manual_seed(0)
    heads = [FCN8sHead(in_channels=(16, 32, 8), num_classes=3, at_once=a)
             for a in (True, False)]
    for layer in ('conv_seg', 'score_pool4', 'score_pool3'):
        nn.init.normal_(getattr(heads[0], layer).weight)
    heads[1].load_state_dict(heads[0].state_dict())
    pool3, pool4, fc7 = (torch.rand(1, 16, 37, 41), torch.rand(1, 32, 19, 21),
                         torch.rand(1, 8, 4, 5))
    torch.testing.assert_close(
        heads[0]([pool3, pool4, fc7]),
        heads[1]([pool3 * 1e-4, pool4 * 1e-2, fc7]))
    assert not torch.allclose(heads[0]([pool3, pool4, fc7]),
                              heads[1]([pool3, pool4, fc7]))


@pytest.mark.parametrize('kwargs, name', [
    (dict(in_channels=8), 'in_channels'),
    (dict(input_transform='resize_concat'), 'input_transform'),
    (dict(learnable_upsampling=(True, )), 'learnable_upsampling'),
    (dict(input_padding=-1), 'input_padding'),
])
def test_fcn8s_invalid_arguments(kwargs, name):
    cfg = dict(in_channels=(16, 32, 8), num_classes=2)
    with pytest.raises(ValueError, match=name):
        FCN8sHead(**dict(cfg, **kwargs))


def test_fcn32s_invalid_arguments():
    with pytest.raises(ValueError, match='in_channels'):
        FCN32sHead(in_channels=(16, 32, 8), num_classes=2)


def centred_identity_(backbone, head, path):
    """Every conv passes channel 0 through at its kernel centre and the head
    scores only ``path`` ('fc7', 'pool4', 'pool3') into class 0."""
    for module in [*backbone.modules(), *head.modules()]:
        if isinstance(module, nn.Conv2d):
            nn.init.zeros_(module.weight)
            nn.init.zeros_(module.bias)
    for module in backbone.modules():
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            module.weight.data[0, 0, kh // 2, kw // 2] = 1
    scorer = {'fc7': 'conv_seg', 'pool4': 'score_pool4',
              'pool3': 'score_pool3'}[path]
    getattr(head, scorer).weight.data[0, 0] = 1


@pytest.mark.parametrize('head_type, path', [('FCN32sHead', 'fc7'),
                                             ('FCN8sHead', 'fc7'),
                                             ('FCN8sHead', 'pool4'),
                                             ('FCN8sHead', 'pool3')])
@pytest.mark.parametrize('padding, size, pixel', [
    (100, (97, 131), (48, 64)),  # FCN's padding: cropped
    (1, (224, 224), (100, 120)),  # classification's: padded around
])
def test_scores_are_aligned_with_the_image(head_type, path, padding, size,
                                           pixel):
    """A single bright pixel lights one cell of each map; the scores of that
    cell must come out centred on the cell's window in the image: pool``k``
    cell ``j`` covers conv1_1 outputs ``[2**k j, 2**k (j + 1))``, i.e. image
    pixels shifted by ``1 - padding``; fc7 sits on its 7x7 window's centre
    cell of pool5."""
    backbone = FCNVGG(input_padding=padding, **SMALL).eval()
    head = MODELS.build(dict(HEADS[head_type], num_classes=2,
                             input_padding=padding)).eval()
    centred_identity_(backbone, head, path)
    image = torch.zeros(1, 3, *size)
    image[0, 0, pixel[0], pixel[1]] = 1
    metas = [dict(img_shape=size, pad_shape=size, ori_shape=size)]
    with torch.no_grad():
        scores = head.predict(backbone(image), metas, dict())[0, 0]
    assert scores.shape == size
    peak = (scores >= scores.max() * (1 - 1e-5)).nonzero().float().mean(0)
    window = {'fc7': 32, 'pool4': 16, 'pool3': 8}[path]
    expected = [
        window * math.floor((p + padding - 1) / window) + (window - 1) / 2 +
        1 - padding for p in pixel
    ]
    assert peak.tolist() == expected


def build_segmentor(backbone_type, head_type):
    # A config dict as a config file gives it (attribute access).
    return MODELS.build(
        ConfigDict(type='EncoderDecoder',
             backbone=dict(type=backbone_type, **SMALL),
             decode_head=dict(
                 HEADS[head_type],
                 num_classes=3,
                 loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
             train_cfg=dict(),
             test_cfg=dict(mode='whole')))


@pytest.mark.parametrize('size', [(97, 131), (64, 64)])
@pytest.mark.parametrize('head_type', ['FCN32sHead', 'FCN8sHead'])
@pytest.mark.parametrize('backbone_type', ['FCNVGG', 'PADVGG'])
def test_segmentor_gives_the_input_size(backbone_type, head_type, size):
    torch.manual_seed(0)
    model = build_segmentor(backbone_type, head_type)
    model.init_weights()
    for name in ('conv_seg', 'score_pool4', 'score_pool3'):
        if hasattr(model.decode_head, name):  # start away from zero
            nn.init.normal_(getattr(model.decode_head, name).weight)
    inputs = torch.rand(2, 3, *size)
    data_samples = [
        SegDataSample(
            gt_sem_seg=PixelData(data=torch.randint(0, 3, (1, *size))),
            metainfo=dict(img_shape=size, ori_shape=size, pad_shape=size))
        for _ in range(2)
    ]
    labels = torch.cat([s.gt_sem_seg.data for s in data_samples])
    metas = [s.metainfo for s in data_samples]

    model.eval()
    with torch.no_grad():
        full = model.decode_head(model.extract_feat(inputs))
        offset = model.decode_head.image_offset
        expected = full[..., offset:offset + size[0], offset:offset + size[1]]
        assert full.shape[-1] > size[1]  # there was something to crop
        logits = model.encode_decode(inputs, metas)
        assert torch.equal(logits, expected)
        results = model.predict(inputs, data_samples)
        assert results[0].seg_logits.data.shape == (3, *size)
        assert torch.equal(results[1].seg_logits.data, expected[1])
        # The loss is computed on the cropped scores, not on resized ones.
        losses = model.loss(inputs, data_samples)
        torch.testing.assert_close(losses['decode.loss_ce'],
                                   F.cross_entropy(expected, labels))

    model.train()
    losses = model.loss(inputs, data_samples)
    losses['decode.loss_ce'].backward()
    assert torch.isfinite(losses['decode.loss_ce'])
    no_grad = [name for name, p in model.named_parameters()
               if p.requires_grad and p.grad is None]
    assert not no_grad
