"""Dilated Residual Networks (DRN) and their PAD form.

Yu, Koltun and Funkhouser, "Dilated Residual Networks", CVPR 2017; module
names follow the reference code (github.com/fyu/drn), so its published
ImageNet checkpoints load through ``init_cfg=dict(type='Pretrained', ...)``
with only the entries no backbone module owns dropped
(:func:`convert_reference_drn`, also ``tools/model_converters/drn2padseg.py``).
"""
import logging
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple, Union

from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmseg.models.backbones.resnet import BasicBlock as ResNetBasicBlock
from mmseg.models.backbones.resnet import Bottleneck
from mmseg.models.utils import ResLayer
from torch import Tensor, nn

from ..utils import (FrozenStagesMixin, PretrainedMixin, check_stage_indices,
                     register_model)
from .pad_mixin import PADMixin

__all__ = ['DRN', 'PADDRN', 'convert_reference_drn']

#: Output channels of layer1..layer8 (``x4`` for layer3-6 with Bottleneck).
STAGE_CHANNELS = (16, 32, 64, 128, 256, 512, 512, 512)

#: output_stride -> (strides, dilations) of layer1..layer8. 8 is the
#: reference; 16 and 32 turn the dilation of layer5 (and layer6) into a stride
#: and scale every later dilation by 8 / output_stride (at least 1).
OUTPUT_STRIDE_SETTINGS = {
    8: ((1, 2, 2, 2, 1, 1, 1, 1), (1, 1, 1, 1, 2, 4, 2, 1)),
    16: ((1, 2, 2, 2, 2, 1, 1, 1), (1, 1, 1, 1, 1, 2, 1, 1)),
    32: ((1, 2, 2, 2, 2, 2, 1, 1), (1, 1, 1, 1, 1, 1, 1, 1)),
}

#: Keys of the reference checkpoints with no module here: the 1x1 conv
#: classifier ``fc`` and, in DRN-C-58, the projection of layer7's first block,
#: which the reference builds but never uses (the block has no residual).
REFERENCE_ONLY_KEYS = re.compile(r'^(fc|layer[78]\.0\.downsample)\.')


def convert_reference_drn(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """A reference DRN checkpoint (github.com/fyu/drn) -> :class:`DRN`'s
    keys: the module names already match, so only the entries that no module
    of the backbone owns (:data:`REFERENCE_ONLY_KEYS`) are dropped, and the
    log names them. A padseg state dict passes unchanged."""
    kept = OrderedDict()
    dropped = []
    for key, value in state_dict.items():
        if REFERENCE_ONLY_KEYS.match(key):
            dropped.append(key)
        else:
            kept[key] = value
    if dropped:
        print_log(
            f'DRN: ignored {len(dropped)} checkpoint entries of the '
            'reference classifier (and of unused projections), which a '
            f'backbone does not have: {", ".join(dropped)}',
            logger='current', level=logging.INFO)
    return kept


class BasicBlock(ResNetBasicBlock):
    """DRN's basic block: mmseg's ResNet block with both 3x3 convs dilated
    and, for the degridding layers of arch C, no residual connection.

    Args:
        inplanes, planes, stride, dilation, downsample, conv_cfg, norm_cfg:
            As mmseg's ``BasicBlock``.
        residual (bool): Add the (projected) input to the output. Without it
            the block keeps no ``downsample``. Default: True.
    """

    def __init__(self,
                 inplanes: int,
                 planes: int,
                 stride: int = 1,
                 dilation: int = 1,
                 downsample: Optional[nn.Module] = None,
                 residual: bool = True,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 **kwargs) -> None:
        super().__init__(inplanes, planes, stride, dilation,
                         downsample if residual else None,
                         conv_cfg=conv_cfg, norm_cfg=norm_cfg, **kwargs)
        self.conv2 = build_conv_layer(conv_cfg, planes, planes, 3,
                                      padding=dilation, dilation=dilation,
                                      bias=False)
        self.residual = residual

    def forward(self, x: Tensor) -> Tensor:
        if self.residual:
            return super().forward(x)
        out = self.relu(self.norm1(self.conv1(x)))
        return self.relu(self.norm2(self.conv2(out)))


#: (arch, depth) -> (block of layer3-6, blocks or convs per stage), as in the
#: reference's ``drn_c_26`` ... ``drn_d_107``.
ARCH_SETTINGS: Dict[Tuple[str, int], Tuple[type, Tuple[int, ...]]] = {
    ('C', 26): (BasicBlock, (1, 1, 2, 2, 2, 2, 1, 1)),
    ('C', 42): (BasicBlock, (1, 1, 3, 4, 6, 3, 1, 1)),
    ('C', 58): (Bottleneck, (1, 1, 3, 4, 6, 3, 1, 1)),
    ('D', 22): (BasicBlock, (1, 1, 2, 2, 2, 2, 1, 1)),
    ('D', 24): (BasicBlock, (1, 1, 2, 2, 2, 2, 2, 2)),
    ('D', 38): (BasicBlock, (1, 1, 3, 4, 6, 3, 1, 1)),
    ('D', 40): (BasicBlock, (1, 1, 3, 4, 6, 3, 2, 2)),
    ('D', 54): (Bottleneck, (1, 1, 3, 4, 6, 3, 1, 1)),
    ('D', 56): (Bottleneck, (1, 1, 3, 4, 6, 3, 2, 2)),
    ('D', 105): (Bottleneck, (1, 1, 3, 4, 23, 3, 1, 1)),
    ('D', 107): (Bottleneck, (1, 1, 3, 4, 23, 3, 2, 2)),
}


@register_model
class DRN(FrozenStagesMixin, PretrainedMixin, BaseModule):
    """Dilated Residual Network, arch C or D, as an mmseg/mmpretrain backbone.

    Eight stages ``layer1`` ... ``layer8`` follow a stride-1 7x7 stem (arch C:
    ``conv1``/``bn1``; arch D: ``layer0``). layer2-4 halve the resolution;
    at output stride 8 layer5 and layer6 are dilated by 2 and 4, and the
    degridding layers layer7 (dilation 2) and layer8 (dilation 1) remove the
    gridding artefacts: residual-free BasicBlocks in arch C, conv-BN-ReLU in
    arch D. In arch D layer1 and layer2 are conv-BN-ReLU too.

    ============  ==========  ========================================
    stage         channels    stride (output_stride 8 / 16 / 32)
    ============  ==========  ========================================
    layer1        16          1
    layer2        32          2
    layer3        64 (x4)     4
    layer4        128 (x4)    8
    layer5        256 (x4)    8 / 16 / 16
    layer6        512 (x4)    8 / 16 / 32
    layer7-8      512         8 / 16 / 32
    ============  ==========  ========================================

    (x4): channels of Bottleneck archs (C-58, D-54, D-56, D-105, D-107).

    The reference ImageNet checkpoints (published for C-26, C-42, C-58, D-22,
    D-38, D-54 and D-105, e.g. ``drn_c_26-ddedf421.pth``) load as they are,
    also in a strict ``load_state_dict``: the classifier ``fc`` is dropped
    with a log line.

    Args:
        arch (str): ``'C'`` or ``'D'``. Default: ``'C'``.
        depth (int): C: 26, 42, 58; D: 22, 24, 38, 40, 54, 56, 105, 107.
            Default: 26.
        in_channels (int): Input image channels. Default: 3.
        output_stride (int): 8 (the reference: layer5/6/7 dilated 2/4/2),
            16 (layer5 strided; layer6 dilated 2) or 32 (layer5 and layer6
            strided; no dilation). Checkpoints fit every output stride.
            Default: 8.
        out_indices (Sequence[int]): Stages (0 = layer1 ... 7 = layer8) whose
            outputs are returned. Default: (7, ).
        frozen_stages (int): Stem and this many first stages are frozen
            (eval mode, no gradient); -1 freezes nothing. Default: -1.
        conv_cfg (dict, optional): Config of every conv layer. Default: None.
        norm_cfg (dict): Config of the norm layers.
            Default: ``dict(type='BN', requires_grad=True)``.
        norm_eval (bool): Keep the norm layers in eval mode (frozen
            statistics) during training. Default: False.
        init_cfg (dict | list[dict], optional): Initialisation; by default
            the reference's (Kaiming normal, fan_out, for convs; norms 1 and
            0). Use ``dict(type='Pretrained', checkpoint=...)`` for a
            reference checkpoint.

    Example:
        >>> import torch
        >>> from padseg.models.backbones.drn import DRN
        >>> model = DRN(arch='D', depth=22, out_indices=(2, 7)).eval()
        >>> for out in model(torch.rand(1, 3, 64, 64)):
        ...     print(tuple(out.shape))
        (1, 64, 16, 16)
        (1, 512, 8, 8)
    """

    def __init__(self,
                 arch: str = 'C',
                 depth: int = 26,
                 in_channels: int = 3,
                 output_stride: int = 8,
                 out_indices: Sequence[int] = (7, ),
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_eval: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        if (arch, depth) not in ARCH_SETTINGS:
            raise ValueError(
                f'DRN has no arch={arch!r}, depth={depth!r}; supported '
                f'(arch, depth): {sorted(ARCH_SETTINGS)}')
        if output_stride not in OUTPUT_STRIDE_SETTINGS:
            raise ValueError('output_stride must be one of '
                             f'{sorted(OUTPUT_STRIDE_SETTINGS)}, got '
                             f'{output_stride!r}')
        num_stages = len(STAGE_CHANNELS)
        out_indices = check_stage_indices(out_indices, frozen_stages,
                                          num_stages, increasing=True)
        if init_cfg is None:
            init_cfg = [
                dict(type='Kaiming', layer='Conv2d', mode='fan_out',
                     nonlinearity='relu', distribution='normal'),
                dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
            ]
        super().__init__(init_cfg)
        self.arch = arch
        self.depth = depth
        self.output_stride = output_stride
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.norm_eval = norm_eval

        stem = build_conv_layer(conv_cfg, in_channels, STAGE_CHANNELS[0], 7,
                                padding=3, bias=False)
        norm_name, norm = build_norm_layer(norm_cfg, STAGE_CHANNELS[0],
                                           postfix=1)
        if arch == 'C':
            self.conv1 = stem
            self.norm1_name = norm_name  # 'bn1' as in the reference
            self.add_module(norm_name, norm)
            self.relu = nn.ReLU(inplace=True)
        else:
            self.layer0 = nn.Sequential(stem, norm, nn.ReLU(inplace=True))

        block, num_blocks = ARCH_SETTINGS[(arch, depth)]
        strides, dilations = OUTPUT_STRIDE_SETTINGS[output_stride]
        self.stage_names = []
        inplanes = STAGE_CHANNELS[0]
        for i, (n, planes, stride, dilation) in enumerate(
                zip(num_blocks, STAGE_CHANNELS, strides, dilations)):
            stage, inplanes = self._make_stage(i, block, inplanes, planes, n,
                                               stride, dilation)
            name = f'layer{i + 1}'
            self.add_module(name, stage)
            self.stage_names.append(name)

    def _make_stage(self, index: int, block: type, inplanes: int, planes: int,
                    num_blocks: int, stride: int,
                    dilation: int) -> Tuple[nn.Module, int]:
        """Stage ``index`` (0-based) and its output channels."""
        outer = index in (0, 1, 6, 7)  # not layer3-6
        if outer and self.arch == 'D':
            return self._conv_layers(inplanes, planes, num_blocks, stride,
                                     dilation), planes
        kwargs = dict(residual=index < 2) if outer else {}
        block = BasicBlock if outer else block
        stage = ResLayer(block, inplanes, planes, num_blocks, stride=stride,
                         dilation=dilation, conv_cfg=self.conv_cfg,
                         norm_cfg=self.norm_cfg, **kwargs)
        return stage, planes * block.expansion

    def _conv_layers(self, inplanes: int, planes: int, num_convs: int,
                     stride: int, dilation: int) -> nn.Sequential:
        """``num_convs`` x (3x3 conv, norm, ReLU), the stride on the first."""
        layers = []
        for i in range(num_convs):
            layers += [
                build_conv_layer(self.conv_cfg, inplanes if i == 0 else planes,
                                 planes, 3, stride=stride if i == 0 else 1,
                                 padding=dilation, dilation=dilation,
                                 bias=False),
                build_norm_layer(self.norm_cfg, planes)[1],
                nn.ReLU(inplace=True)
            ]
        return nn.Sequential(*layers)

    @property
    def norm1(self) -> nn.Module:
        """The stem's norm layer of arch C."""
        return getattr(self, self.norm1_name)

    @property
    def stem(self) -> Tuple[nn.Module, ...]:
        """The modules before layer1 (frozen when ``frozen_stages >= 0``)."""
        if self.arch == 'C':
            return (self.conv1, self.norm1)
        return (self.layer0, )

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        if self.arch == 'C':
            x = self.relu(self.norm1(self.conv1(x)))
        else:
            x = self.layer0(x)
        outs = []
        for i, name in enumerate(self.stage_names):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def frozen_modules(self) -> List[nn.Module]:
        if self.frozen_stages < 0:
            return []
        return list(self.stem) + [
            getattr(self, name)
            for name in self.stage_names[:self.frozen_stages]
        ]

    # The reference checkpoints: drop what no module here owns.
    convert_checkpoint = staticmethod(convert_reference_drn)


@register_model
class PADDRN(PADMixin, DRN):
    """DRN with PAD layers in the stages chosen by ``stage_with_pad``.

    Every stride-1 3x3 conv of a selected stage becomes a
    :class:`~padseg.ops.PADConv2d` with the same weight; strided and 1x1
    convs stay plain. The default puts PAD into the degridding layers layer7
    and layer8 (the paper's DRN-D-54 + DeepLabV3+, Table 8): two convs per
    block in arch C, one conv-BN-ReLU unit per conv in arch D. The paper's
    ImageNet DRN-C-26 uses layer8 only; its fine-grained DRN-C-26 uses layer7
    and layer8 with ``dilations=(1, 2, 3)``. All PAD layers form one chain
    (section 3.2). With every flag False the model is exactly :class:`DRN`.

    A reference checkpoint loads with only the PAD layers' ``aggregation.*``
    parameters missing; they keep their start-up values (each PAD layer
    prefers its own dilation) and the log says so.

    Args:
        stage_with_pad (Sequence[bool]): One flag per stage, layer1..layer8.
            A selected stage must have a stride-1 3x3 conv (not so arch D's
            layer2 with one conv). Default: layer7 and layer8.
        pad_cfg (dict): :class:`~padseg.ops.PADConv2d` settings
            (``dilations``, ``aggregation``, ``tau``, ``hard``, ``inference``,
            ``act_cfg``). Default: ``dict(dilations=(1, 2, 4),
            aggregation='markov')``.
        **kwargs: The arguments of :class:`DRN`.

    Example:
        >>> import torch
        >>> from padseg.models.backbones.drn import PADDRN
        >>> from padseg.ops import pad_layers
        >>> model = PADDRN(arch='C', depth=26,
        ...                stage_with_pad=(False, ) * 7 + (True, )).eval()
        >>> [name for name, _ in pad_layers(model)]
        ['layer8.0.conv1', 'layer8.0.conv2']
        >>> model(torch.rand(1, 3, 64, 64))[0].shape
        torch.Size([1, 512, 8, 8])
    """

    def __init__(self,
                 stage_with_pad: Sequence[bool] = (False, ) * 6 +
                 (True, True),
                 pad_cfg: dict = dict(dilations=(1, 2, 4),
                                      aggregation='markov'),
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_pad(stage_with_pad, pad_cfg)

    def pad_stages(self) -> List[Tuple[str, nn.Module]]:
        return [(name, getattr(self, name)) for name in self.stage_names]
