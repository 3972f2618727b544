"""Aligned Xception-65 (DeepLabV3+, Chen et al. 2018) and its PAD form.

Module names follow timm's ``xception65`` (``stem.N.conv``/``stem.N.bn``,
``blocks.N.shortcut.{conv,bn}``, ``blocks.N.stack.convK.{conv_dw,bn_dw,
conv_pw,bn_pw}``), so timm's ImageNet checkpoints load as they are; only the
classifier (``head.*``) is dropped.
"""
from collections import OrderedDict
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

from mmcv.cnn import ConvModule, build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor, nn

from ..utils import (FrozenStagesMixin, PretrainedMixin, check_stage_indices,
                     register_model)
from .pad_mixin import PADMixin

__all__ = ['SeparableConv', 'XceptionBlock', 'Xception65', 'PADXception',
           'convert_timm_xception']


class SeparableConv(nn.Module):
    """Depthwise 3x3 conv + BN, then pointwise 1x1 conv + BN.

    Args:
        in_channels (int): Input channels (also the depthwise conv's groups).
        out_channels (int): Output channels of the pointwise conv.
        stride (int): Stride of the depthwise conv. Default: 1.
        dilation (int): Dilation (and padding) of the depthwise conv.
            Default: 1.
        with_act (bool): ReLU after each BN (Xception's last block); False
            leaves the ReLUs to the enclosing block. Default: False.
        conv_cfg (dict, optional): Config of the conv layers. Default: None.
        norm_cfg (dict): Config of the norm layers.
            Default: ``dict(type='BN')``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 stride: int = 1,
                 dilation: int = 1,
                 with_act: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN')) -> None:
        super().__init__()
        self.conv_dw = build_conv_layer(
            conv_cfg, in_channels, in_channels, 3, stride=stride,
            padding=dilation, dilation=dilation, groups=in_channels,
            bias=False)
        self.bn_dw = build_norm_layer(norm_cfg, in_channels)[1]
        self.conv_pw = build_conv_layer(
            conv_cfg, in_channels, out_channels, 1, bias=False)
        self.bn_pw = build_norm_layer(norm_cfg, out_channels)[1]
        self.act = nn.ReLU(inplace=True) if with_act else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = self.act(self.bn_dw(self.conv_dw(x)))
        return self.act(self.bn_pw(self.conv_pw(x)))


class XceptionBlock(nn.Module):
    """Three separable convs, the stride on the last one, plus a skip.

    Args:
        in_channels (int): Input channels.
        out_channels (Sequence[int]): Output channels of the three
            separable convs.
        stride (int): Stride of the third separable conv and of the 1x1
            shortcut. Default: 1.
        dilation (int): Dilation of the three depthwise convs. Default: 1.
        residual (bool): Add a skip: identity when the shape is kept, else a
            strided 1x1 conv + BN (``shortcut``). Default: True.
        start_with_relu (bool): ReLU before each separable conv (entry,
            middle and first exit block); False puts the ReLUs after each BN
            inside the separable convs (the last exit block). Default: True.
        conv_cfg (dict, optional): Config of the conv layers. Default: None.
        norm_cfg (dict): Config of the norm layers.
            Default: ``dict(type='BN')``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: Sequence[int],
                 stride: int = 1,
                 dilation: int = 1,
                 residual: bool = True,
                 start_with_relu: bool = True,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN')) -> None:
        super().__init__()
        self.residual = residual
        self.shortcut = None
        if residual and (stride != 1 or out_channels[-1] != in_channels):
            self.shortcut = ConvModule(
                in_channels, out_channels[-1], 1, stride=stride,
                conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=None)
        layers = []
        for i, channels in enumerate(out_channels, 1):
            if start_with_relu:
                # The first ReLU must not overwrite the block input: it is
                # the skip, and may be a feature map the backbone returns.
                layers.append((f'act{i}', nn.ReLU(inplace=i > 1)))
            layers.append((f'conv{i}', SeparableConv(
                in_channels, channels,
                stride=stride if i == len(out_channels) else 1,
                dilation=dilation, with_act=not start_with_relu,
                conv_cfg=conv_cfg, norm_cfg=norm_cfg)))
            in_channels = channels
        self.stack = nn.Sequential(OrderedDict(layers))

    def forward(self, x: Tensor) -> Tensor:
        out = self.stack(x)
        if not self.residual:
            return out
        return out + (x if self.shortcut is None else self.shortcut(x))


def convert_timm_xception(
        checkpoint: Dict[str, Tensor]) -> 'OrderedDict[str, Tensor]':
    """State dict of timm's ``xception65`` -> padseg's :class:`Xception65`.

    The module names already match, so this unwraps ``state_dict``/``model``,
    strips a DataParallel ``module.`` prefix and drops the ImageNet
    classifier (``head.*``). A padseg state dict passes unchanged.
    """
    for wrapper in ('state_dict', 'model'):
        if isinstance(checkpoint.get(wrapper), dict):
            checkpoint = checkpoint[wrapper]
            break
    state_dict = OrderedDict()
    for key, value in checkpoint.items():
        key = key[len('module.'):] if key.startswith('module.') else key
        if not key.startswith('head.'):
            state_dict[key] = value
    return state_dict


@register_model
class Xception65(FrozenStagesMixin, PretrainedMixin, BaseModule):
    """Aligned Xception-65, the DeepLabV3+ backbone (Chen et al. 2018).

    Entry flow: 3x3 stride-2 conv (32) and 3x3 conv (64), then three blocks to
    128, 256 and 728 channels. Middle flow: 16 blocks of 728 channels with an
    identity skip. Exit flow: a block to (728, 1024, 1024), then separable
    convs to 1536, 1536 and 2048 with ReLUs and no skip. A block is three
    separable convs (depthwise 3x3 + BN + pointwise 1x1 + BN) with the stride
    on the last one (no max pooling) and a strided 1x1 conv + BN as skip when
    the shape changes. Below ``output_stride`` the remaining strides become
    dilation: a block whose stride is removed keeps the current dilation and
    the blocks after it use twice as much (as DeepLab and timm do).

    The five stages that ``out_indices`` and ``frozen_stages`` count:

    ====  ====================  ========  =============================
    idx   modules               channels  stride at output stride 32/16/8
    ====  ====================  ========  =============================
    0     ``blocks.0``          128       4 / 4 / 4  (DeepLabV3+'s c1)
    1     ``blocks.1``          256       8 / 8 / 8
    2     ``blocks.2``          728       16 / 16 / 8
    3     ``blocks.3-18``       728       16 / 16 / 8 (middle flow)
    4     ``blocks.19-20``      2048      32 / 16 / 8 (exit flow)
    ====  ====================  ========  =============================

    Outputs 0-3 are block sums (before the next block's ReLU); output 4
    follows a ReLU.

    Args:
        in_channels (int): Input image channels. Default: 3.
        output_stride (int): 8, 16 or 32. Default: 16.
        out_indices (Sequence[int]): Stages to return, from the table above.
            Default: (0, 4), the inputs of ``DepthwiseSeparableASPPHead``
            (``c1_in_channels=128``, ``in_channels=2048``, ``in_index=1``).
        frozen_stages (int): -1 freezes nothing, 0 the stem, ``k`` the stem
            and stages ``0..k-1`` (eval mode, no grad). Default: -1.
        conv_cfg (dict, optional): Config of every conv. Default: None.
        norm_cfg (dict): Config of every norm layer. timm's and TF's weights
            were trained with ``eps=1e-3``; keep it when switching to SyncBN.
            Default: ``dict(type='BN', eps=1e-3, requires_grad=True)``.
        norm_eval (bool): Keep BN layers in eval mode during training.
            Default: False.
        init_cfg (dict | list[dict], optional): Initialisation. A
            ``dict(type='Pretrained', checkpoint=..., prefix=None)`` loads a
            timm ``xception65`` (or padseg) checkpoint through
            :func:`convert_timm_xception`. Default: None (Kaiming for convs,
            1 for norm layers).

    Example:
        >>> import torch
        >>> from padseg.models.backbones.xception import Xception65
        >>> model = Xception65(out_indices=(0, 1, 2, 3, 4)).eval()
        >>> for out in model(torch.rand(1, 3, 64, 64)):
        ...     print(tuple(out.shape))
        (1, 128, 16, 16)
        (1, 256, 8, 8)
        (1, 728, 4, 4)
        (1, 728, 4, 4)
        (1, 2048, 4, 4)
    """

    #: ``(in_channels, out_channels, stride)`` of each block, in order.
    block_settings: Tuple[Tuple[int, Tuple[int, int, int], int], ...] = (
        (64, (128, 128, 128), 2),
        (128, (256, 256, 256), 2),
        (256, (728, 728, 728), 2),
        *(((728, (728, 728, 728), 1), ) * 16),
        (728, (728, 1024, 1024), 2),
        (1024, (1536, 1536, 2048), 1),
    )
    #: Index of the block after the last block of each stage.
    stage_ends: Tuple[int, ...] = (1, 2, 3, 19, 21)
    #: Blocks of the entry, middle and exit flows (the stem joins the entry).
    flow_ends: Tuple[int, ...] = (3, 19, 21)

    def __init__(self,
                 in_channels: int = 3,
                 output_stride: int = 16,
                 out_indices: Sequence[int] = (0, 4),
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', eps=1e-3,
                                       requires_grad=True),
                 norm_eval: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        if init_cfg is None:
            init_cfg = [
                dict(type='Kaiming', layer='Conv2d'),
                dict(type='Constant', val=1,
                     layer=['_BatchNorm', 'GroupNorm'])
            ]
        super().__init__(init_cfg)
        num_stages = len(self.stage_ends)
        if output_stride not in (8, 16, 32):
            raise ValueError(
                f'output_stride must be 8, 16 or 32, got {output_stride!r}')
        out_indices = check_stage_indices(out_indices, frozen_stages,
                                          num_stages)
        self.output_stride = output_stride
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

        self.stem = nn.Sequential(
            ConvModule(in_channels, 32, 3, stride=2, padding=1,
                       conv_cfg=conv_cfg, norm_cfg=norm_cfg),
            ConvModule(32, 64, 3, padding=1, conv_cfg=conv_cfg,
                       norm_cfg=norm_cfg))
        stride, dilation = 2, 1
        blocks = []
        for i, (block_in, block_out, block_stride) in enumerate(
                self.block_settings):
            block_dilation = dilation
            if block_stride > 1 and stride * block_stride > output_stride:
                dilation *= block_stride
                block_stride = 1
            stride *= block_stride
            last = i == len(self.block_settings) - 1
            blocks.append(XceptionBlock(
                block_in, block_out, block_stride, block_dilation,
                residual=not last, start_with_relu=not last,
                conv_cfg=conv_cfg, norm_cfg=norm_cfg))
        self.blocks = nn.Sequential(*blocks)
        self._freeze_stages()

    def stages(self) -> Iterator[nn.Sequential]:
        """The blocks of each stage (see the table), in order."""
        starts = (0, ) + self.stage_ends[:-1]
        for start, end in zip(starts, self.stage_ends):
            yield self.blocks[start:end]

    def flows(self) -> List[List[nn.Module]]:
        """The modules of the entry (stem included), middle and exit flows."""
        starts = (0, ) + self.flow_ends[:-1]
        flows = [list(self.blocks[start:end])
                 for start, end in zip(starts, self.flow_ends)]
        flows[0].insert(0, self.stem)
        return flows

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages()):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def frozen_modules(self) -> List[nn.Module]:
        if self.frozen_stages < 0:
            return []
        return [self.stem, *list(self.stages())[:self.frozen_stages]]

    # A ``Pretrained`` checkpoint in timm's or padseg's layout.
    convert_checkpoint = staticmethod(convert_timm_xception)


@register_model
class PADXception(PADMixin, Xception65):
    """Aligned Xception-65 with PAD layers (paper, appendix A, Table 8).

    PAD replaces the stride-1 3x3 convs of the flows chosen by
    ``stage_with_pad``: the depthwise convs of the separable convs, and in the
    entry flow also the stem's second (full) 3x3 conv. Strided convs and 1x1
    convs stay plain. A depthwise conv whose stride became dilation (below
    ``output_stride``) counts as stride 1. With the default placement at
    output stride 16 these are the 54 depthwise convs of ``blocks.3``-
    ``blocks.20``; at output stride 32 ``blocks.19.stack.conv3`` keeps its
    stride and stays plain (53). Each PAD layer starts with the weight of the
    conv it replaces; all PAD layers form one chain (section 3.2).

    Args:
        stage_with_pad (Sequence[bool]): PAD in the (entry, middle, exit)
            flows. Default: (False, True, True), as in the paper.
        pad_cfg (dict): Settings of every PAD layer (``dilations``,
            ``aggregation``, ``tau``, ``hard``, ``inference``, ``act_cfg``;
            see :class:`padseg.ops.PADConv2d`).
            Default: ``dict(dilations=(1, 2, 4), aggregation='markov')``.
        **kwargs: Arguments of :class:`Xception65`. A timm ``xception65``
            checkpoint loads with only ``*.aggregation.*`` missing.

    Example:
        >>> import torch
        >>> from padseg.models.backbones.xception import PADXception
        >>> model = PADXception().eval()
        >>> [tuple(out.shape) for out in model(torch.rand(1, 3, 64, 64))]
        [(1, 128, 16, 16), (1, 2048, 4, 4)]
    """

    def __init__(self,
                 stage_with_pad: Sequence[bool] = (False, True, True),
                 pad_cfg: dict = dict(dilations=(1, 2, 4),
                                      aggregation='markov'),
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_pad(stage_with_pad, pad_cfg)

    def pad_stages(self) -> List[Tuple[str, nn.Module]]:
        names = ('entry flow', 'middle flow', 'exit flow')
        return [(name, nn.ModuleList(flow))
                for name, flow in zip(names, self.flows())]
