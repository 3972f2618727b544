"""PAD forms of mmseg's ResNet and ResNetV1c (appendix A of the paper).

The vanilla networks are mmseg's own; the PAD classes build them unchanged
and then turn the stride-1 3x3 convs of the selected stages into PAD layers
that keep the conv's weight and key, so ImageNet checkpoints load as before.
"""
from typing import List, Sequence, Tuple

from mmseg.models.backbones import ResNet, ResNetV1c
from torch import nn

from ..utils import register_model
from .pad_mixin import PADMixin

__all__ = ['PADResNet', 'PADResNetV1c']


@register_model
class PADResNet(PADMixin, ResNet):
    """mmseg's ResNet with PAD layers in the selected stages.

    PAD replaces the stride-1 3x3 convs of each stage selected by
    ``stage_with_pad``: ``conv2`` of a Bottleneck, ``conv1`` and ``conv2`` of a
    BasicBlock. A strided conv (``conv2`` of a stage's first Bottleneck with
    ``style='pytorch'``) stays plain. A PAD layer keeps the geometry of the
    conv it replaces, so with ``dilations=(1, 1, 1, 2)`` the layer4 PAD layers
    sample from dilations 2, 4 and 8. All PAD layers form one chain
    (:func:`padseg.ops.link_pad_chain`) in forward order.

    The paper's placements (appendix A):

    - segmentation, ResNet-101 + DeepLabV3+ (output stride 16): the default
      ``stage_with_pad=(False, False, False, True)`` with
      ``strides=(1, 2, 2, 1)``, ``dilations=(1, 1, 1, 2)``: the three
      ``conv2`` of layer4;
    - classification, ResNet-50: ``stage_with_pad=(False, True, False,
      False)``: the last three ``conv2`` of layer2.

    Args:
        depth (int): Depth of the ResNet, from {18, 34, 50, 101, 152}.
        stage_with_pad (Sequence[bool]): Whether each stage gets PAD layers,
            one bool per stage (``num_stages`` of them). A selected stage must
            hold at least one stride-1 3x3 conv.
            Default: ``(False, False, False, True)``.
        pad_cfg (dict): Settings of every PAD layer, the keyword arguments of
            :class:`padseg.ops.PADConv2d` (``dilations``, ``aggregation``,
            ``tau``, ``hard``, ``inference``, ``act_cfg``).
            Default: ``dict(dilations=(1, 2, 4), aggregation='markov')``.
        **kwargs: Every other argument of mmseg's ``ResNet`` (``strides``,
            ``dilations``, ``out_indices``, ``frozen_stages``, ``norm_cfg``,
            ``norm_eval``, ``contract_dilation``, ``multi_grid``, ``dcn``,
            ``stage_with_dcn``, ``plugins``, ``init_cfg``, ...), with their
            meaning and defaults there.

    Raises:
        ValueError: if ``stage_with_pad`` is not ``num_stages`` bools, selects
            a stage without a stride-1 3x3 conv, or selects a stage that also
            has ``dcn`` (both would take ``conv2``); if ``with_cp=True`` with
            an aggregation that carries the previous prior (a re-computed
            block would not see it); if ``pad_cfg`` is not a dict of PAD
            layer settings.

    Example:
        >>> import torch
        >>> from padseg.models.backbones.resnet import PADResNet
        >>> from padseg.ops import pad_layers
        >>> model = PADResNet(depth=50, strides=(1, 2, 2, 1),
        ...                   dilations=(1, 1, 1, 2))
        >>> model.eval()
        >>> [name for name, _ in pad_layers(model)]
        ['layer4.0.conv2', 'layer4.1.conv2', 'layer4.2.conv2']
        >>> for out in model(torch.rand(1, 3, 64, 64)):
        ...     print(tuple(out.shape))
        (1, 256, 16, 16)
        (1, 512, 8, 8)
        (1, 1024, 4, 4)
        (1, 2048, 4, 4)
    """

    def __init__(self,
                 depth: int,
                 stage_with_pad: Sequence[bool] = (False, False, False, True),
                 pad_cfg: dict = dict(dilations=(1, 2, 4),
                                      aggregation='markov'),
                 **kwargs) -> None:
        super().__init__(depth=depth, **kwargs)
        self.add_pad(stage_with_pad, pad_cfg)

    def pad_stages(self) -> List[Tuple[str, nn.Module]]:
        return [(name, getattr(self, name)) for name in self.res_layers]

    def check_pad_stage(self, index: int, name: str) -> None:
        if self.dcn is not None and self.stage_with_dcn[index]:
            raise ValueError(
                f'stage_with_pad[{index}] and stage_with_dcn[{index}] are '
                'both True: PAD and dcn would both replace conv2 of that '
                'stage; select each stage for one of them only')


@register_model
class PADResNetV1c(PADResNet, ResNetV1c):
    """mmseg's ResNetV1c (deep 3x3 stem) with PAD layers.

    Same arguments and placement rule as :class:`PADResNet`; the stem is the
    three 3x3 convs of ResNetV1c and never gets PAD.

    Example:
        >>> import torch
        >>> from padseg.models.backbones.resnet import PADResNetV1c
        >>> model = PADResNetV1c(depth=50, strides=(1, 2, 1, 1),
        ...                      dilations=(1, 1, 2, 4))
        >>> model.eval()
        >>> for out in model(torch.rand(1, 3, 64, 64)):
        ...     print(tuple(out.shape))
        (1, 256, 16, 16)
        (1, 512, 8, 8)
        (1, 1024, 8, 8)
        (1, 2048, 8, 8)
    """
