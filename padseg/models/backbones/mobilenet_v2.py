"""PAD form of mmseg's MobileNetV2 (appendix A of the paper), and the
conversion of torchvision's MobileNetV2 checkpoints to mmseg's key names.

The vanilla network is mmseg's own; the PAD class builds it unchanged and then
turns the stride-1 depthwise 3x3 convs of the selected stages into PAD layers
that keep the conv's weight and key.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Sequence, Tuple

from mmengine.logging import print_log
from mmseg.models.backbones import MobileNetV2
from torch import nn

from ..utils import register_model
from .pad_mixin import PADMixin

__all__ = [
    'PADMobileNetV2', 'MobileNetV2PADMixin', 'is_torchvision_mobilenet_v2',
    'convert_torchvision_mobilenet_v2'
]

# Module names inside torchvision's MobileNetV2 (``features.<k>.<module>``)
# and their mmseg/mmpretrain names. Stem and last conv are a
# Conv2dNormActivation; inside an inverted residual the expansion (absent when
# t = 1) and the depthwise conv are Conv2dNormActivations, the projection a
# bare conv and BN.
_CONV_NORM = {'0': 'conv', '1': 'bn'}
_BLOCK = {'conv.0.0': 'conv.0.conv', 'conv.0.1': 'conv.0.bn',
          'conv.1.0': 'conv.1.conv', 'conv.1.1': 'conv.1.bn',
          'conv.2': 'conv.2.conv', 'conv.3': 'conv.2.bn'}
_BLOCK_WITHOUT_EXPANSION = {'conv.0.0': 'conv.0.conv', 'conv.0.1': 'conv.0.bn',
                            'conv.1': 'conv.1.conv', 'conv.2': 'conv.1.bn'}
_KEY = re.compile(r'features\.(\d+)\.(.+)\.(\w+)')


def is_torchvision_mobilenet_v2(state_dict: Dict) -> bool:
    """Whether ``state_dict`` has torchvision's MobileNetV2 key layout."""
    return ('features.0.0.weight' in state_dict
            and 'features.1.conv.0.0.weight' in state_dict)


def convert_torchvision_mobilenet_v2(state_dict: Dict) -> OrderedDict:
    """torchvision's MobileNetV2 state dict with mmseg/mmpretrain key names.

    ``features.0`` becomes ``conv1``, the 17 inverted residuals
    ``layer1.0`` ... ``layer7.0`` (stage by stage as in
    ``MobileNetV2.arch_settings``), ``features.18`` (the 1x1 conv to 1280
    channels) ``conv2`` as in mmpretrain's MobileNetV2 (mmseg's backbone has
    no such conv and reports it as unexpected); the classifier is dropped.

    Raises:
        ValueError: on a key that is not part of that layout.
    """
    blocks = [(f'layer{stage + 1}.{block}', expand_ratio != 1)
              for stage, (expand_ratio, _, num_blocks) in enumerate(
                  MobileNetV2.arch_settings) for block in range(num_blocks)]
    last = len(blocks) + 1
    converted = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith('classifier.'):
            continue
        match = _KEY.fullmatch(key)
        index = int(match[1]) if match else -1
        if index in (0, last):
            prefix, names = ('conv1' if index == 0 else 'conv2'), _CONV_NORM
        elif 0 < index < last:
            prefix, expanded = blocks[index - 1]
            names = _BLOCK if expanded else _BLOCK_WITHOUT_EXPANSION
        else:
            names = {}
        if not match or match[2] not in names:
            raise ValueError(
                f'{key!r} is not a key of torchvision\'s MobileNetV2')
        converted[f'{prefix}.{names[match[2]]}.{match[3]}'] = value
    return converted


def _convert_if_torchvision(state_dict: Dict) -> Dict:
    """:func:`convert_torchvision_mobilenet_v2` for torchvision's layout;
    mmseg's/mmpretrain's passes unchanged."""
    if not is_torchvision_mobilenet_v2(state_dict):
        return state_dict
    print_log('converting torchvision MobileNetV2 keys to mmseg/mmpretrain '
              'names', logger='current')
    return convert_torchvision_mobilenet_v2(state_dict)


class MobileNetV2PADMixin(PADMixin):
    """What both PAD MobileNetV2s share: the placement in the inverted
    residual stages (not ``conv2``) and torchvision checkpoints."""

    def __init__(self,
                 stage_with_pad: Sequence[bool] = (False, ) * 5 + (True, True),
                 pad_cfg: dict = dict(dilations=(1, 2, 4),
                                      aggregation='markov'),
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_pad(stage_with_pad, pad_cfg)

    def pad_stages(self) -> List[Tuple[str, nn.Module]]:
        # the stride-1 depthwise 3x3 convs are the stages' only kxk convs;
        # mmpretrain's last 1x1 conv (conv2) is no stage
        return [(name, getattr(self, name)) for name in self.layers
                if name != 'conv2']

    # A ``Pretrained`` checkpoint in torchvision's layout is converted;
    # mmseg's and mmpretrain's load as they are.
    convert_checkpoint = staticmethod(_convert_if_torchvision)


@register_model(scopes=('mmseg', ))
class PADMobileNetV2(MobileNetV2PADMixin, MobileNetV2):
    """mmseg's MobileNetV2 with PAD layers in the selected stages.

    PAD replaces the stride-1 depthwise 3x3 convs (the ``conv`` of the
    depthwise ConvModule, ``layer<i>.<j>.conv.<k>.conv``) of each stage
    selected by ``stage_with_pad``; the strided depthwise conv of a stage's
    first block stays plain. A PAD layer keeps the geometry of the conv it
    replaces (mmseg dilates only the first block of a stage, so with
    ``dilations=(1, 1, 1, 2, 2, 4, 4)`` layer6.0 and layer7.0 sample from
    4, 8, 16 and layer6.1, layer6.2 from 1, 2, 4). All PAD layers form one
    chain (:func:`padseg.ops.link_pad_chain`) in forward order.

    The seven stages are mmseg's inverted-residual stages ``(t, c, n, s)`` =
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
    (6, 160, 3, 2), (6, 320, 1, 1). The paper's placements (appendix A):

    - segmentation, DeepLabV3+: the 160- and 320-channel stages, the default
      ``stage_with_pad=(False,) * 5 + (True, True)``;
    - classification: the stage t=6, c=32, n=3, s=2,
      ``stage_with_pad=(False, False, True, False, False, False, False)``.

    Pretrained weights: ``init_cfg=dict(type='Pretrained', checkpoint=...)``
    loads mmseg/mmpretrain layouts (an mmpretrain classifier with
    ``prefix='backbone.'``) and torchvision's layout, which is recognised and
    converted by :func:`convert_torchvision_mobilenet_v2`.

    Args:
        stage_with_pad (Sequence[bool]): Whether each of the 7 stages gets PAD
            layers. A selected stage must hold a stride-1 depthwise conv.
            Default: ``(False, False, False, False, False, True, True)``.
        pad_cfg (dict): Settings of every PAD layer, the keyword arguments of
            :class:`padseg.ops.PADConv2d` (``dilations``, ``aggregation``,
            ``tau``, ``hard``, ``inference``, ``act_cfg``).
            Default: ``dict(dilations=(1, 2, 4), aggregation='markov')``.
        **kwargs: Every other argument of mmseg's ``MobileNetV2``
            (``widen_factor``, ``strides``, ``dilations``, ``out_indices``,
            ``frozen_stages``, ``conv_cfg``, ``norm_cfg``, ``act_cfg``,
            ``norm_eval``, ``with_cp``, ``init_cfg``), with their meaning and
            defaults there.

    Raises:
        ValueError: if ``stage_with_pad`` is not 7 bools or selects a stage
            without a stride-1 depthwise conv (e.g. the single-block 320
            stage with ``strides[6] = 2``); if ``with_cp=True`` with an
            aggregation that carries the previous prior (a re-computed block
            would not see it); if ``pad_cfg`` is not a dict of PAD layer
            settings.

    Example:
        >>> import torch
        >>> from padseg.models.backbones.mobilenet_v2 import PADMobileNetV2
        >>> from padseg.ops import pad_layers
        >>> model = PADMobileNetV2(strides=(1, 2, 2, 1, 1, 1, 1),
        ...                        dilations=(1, 1, 1, 2, 2, 4, 4))
        >>> model.eval()
        >>> [name for name, _ in pad_layers(model)][-1]
        'layer7.0.conv.1.conv'
        >>> for out in model(torch.rand(1, 3, 64, 64)):
        ...     print(tuple(out.shape))
        (1, 24, 16, 16)
        (1, 32, 8, 8)
        (1, 96, 8, 8)
        (1, 320, 8, 8)
    """
