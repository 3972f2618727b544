"""VGG as the fully convolutional net of FCN (Long et al. 2015), and its PAD
form (the paper's PAD-VGG16, section 4 and appendix A).

Layers keep the names of the FCN/Caffe nets (``conv1_1`` ... ``conv5_3``,
``pool1`` ... ``pool5``, ``fc6``, ``fc7``), so ``conv5_1.conv`` is the layer
the paper calls conv5-1. torchvision's ImageNet checkpoints load through
:func:`convert_torchvision_vgg`.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Sequence, Tuple

from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn

from ..utils import (FrozenStagesMixin, PretrainedMixin, check_stage_indices,
                     register_model)
from .pad_mixin import PADMixin

__all__ = ['FCNVGG', 'PADVGG', 'convert_torchvision_vgg']

#: Number of 3x3 convs in conv1..conv5 for each depth (Simonyan & Zisserman
#: 2015, Table 1, configurations A, B, D, E).
ARCH_SETTINGS = {
    11: (1, 1, 2, 2, 2),
    13: (2, 2, 2, 2, 2),
    16: (2, 2, 3, 3, 3),
    19: (2, 2, 4, 4, 4),
}

#: Width of conv1..conv5 in units of ``base_channels`` (64 -> 64 ... 512).
STAGE_WIDTHS = (1, 2, 4, 8, 8)


def conv_names(depth: int) -> List[List[str]]:
    """``[['conv1_1', 'conv1_2'], ..., ['conv5_1', ...]]`` for a VGG depth."""
    return [[f'conv{block}_{i}' for i in range(1, num_convs + 1)]
            for block, num_convs in enumerate(ARCH_SETTINGS[depth], 1)]


def convert_torchvision_vgg(
        state_dict: Dict[str, Tensor]) -> 'OrderedDict[str, Tensor]':
    """Map a torchvision VGG state dict onto :class:`FCNVGG`'s keys.

    Works for ``vgg11`` ... ``vgg19`` and their ``_bn`` forms: the depth
    follows from the number of convs in ``features``, and each BatchNorm
    belongs to the conv before it. ``classifier.0`` (Linear ``C*7*7 -> 4096``)
    becomes the 7x7 conv ``fc6`` and ``classifier.3`` (Linear
    ``4096 -> 4096``) the 1x1 conv ``fc7``, the reshaping of FCN's "net
    surgery"; ``classifier.6`` (the ImageNet classifier fc8) is dropped.

    Raises:
        ValueError: if ``state_dict`` is not a torchvision VGG state dict.
    """
    features: Dict[int, Dict[str, Tensor]] = {}
    classifier: Dict[str, Tensor] = {}
    for key, value in state_dict.items():
        match = re.fullmatch(r'features\.(\d+)\.(\w+)', key)
        if match:
            features.setdefault(int(match[1]), {})[match[2]] = value
        elif key.startswith('classifier.'):
            classifier[key[len('classifier.'):]] = value
        else:
            raise ValueError(f'{key!r} is not a key of a torchvision VGG')
    convs = [i for i in sorted(features) if features[i]['weight'].dim() == 4]
    depths = {sum(arch): depth for depth, arch in ARCH_SETTINGS.items()}
    if len(convs) not in depths:
        raise ValueError(
            f'a torchvision VGG has {sorted(depths)} convs in "features", '
            f'this state dict has {len(convs)}')
    names = sum(conv_names(depths[len(convs)]), [])
    converted = OrderedDict()
    for index in sorted(features):
        if index in convs:
            owner, kind = names[convs.index(index)], 'conv'
        else:  # the BatchNorm after that conv
            kind = 'bn'
        for param, value in features[index].items():
            converted[f'{owner}.{kind}.{param}'] = value
    for fc, index, kernel in (('fc6', '0', 7), ('fc7', '3', 1)):
        if f'{index}.weight' not in classifier:
            continue
        weight = classifier[f'{index}.weight']
        out_channels, in_features = weight.shape
        converted[f'{fc}.conv.weight'] = weight.reshape(
            out_channels, in_features // kernel**2, kernel, kernel)
        converted[f'{fc}.conv.bias'] = classifier[f'{index}.bias']
    return converted


def _convert_if_torchvision(
        state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """:func:`convert_torchvision_vgg` for torchvision's layout; padseg's
    passes unchanged."""
    if any(re.fullmatch(r'features\.\d+\.weight', key) for key in state_dict):
        return convert_torchvision_vgg(state_dict)
    return state_dict


@register_model
class FCNVGG(FrozenStagesMixin, PretrainedMixin, BaseModule):
    """VGG in the fully convolutional form of FCN-32s/16s/8s.

    conv1..conv5 blocks of 3x3 convs (padding 1, ReLU), each ending in a 2x2
    max pool with ``ceil_mode=True``; ``with_fc`` adds ``fc6`` (7x7 conv
    without padding, ReLU, dropout) and ``fc7`` (1x1 conv, ReLU, dropout),
    the ImageNet classifier turned into convs. ``conv1_1`` pads its input by
    ``input_padding``: 100 pixels in FCN, so that ``fc6`` has an output for
    any image size and the heads crop back to the image
    (:mod:`padseg.models.decode_heads.fcn_vgg_head`); 1 for classification
    at 224x224, where ``fc6`` sees exactly 7x7.

    Stages: 0..4 are conv1..conv5 with their pools (outputs at stride 2, 4,
    8, 16, 32 and ``base_channels * (1, 2, 4, 8, 8)`` channels), 5 is ``fc7``
    (stride 32, ``fc_channels``).

    Args:
        depth (int): 11, 13, 16 or 19. Default: 16.
        in_channels (int): Input image channels. Default: 3.
        base_channels (int): Width of conv1; later blocks have 2, 4, 8 and 8
            times as many channels. Default: 64.
        input_padding (int): Zero padding of ``conv1_1``. Default: 100.
        with_fc (bool): Add ``fc6`` and ``fc7`` (stage 5). Default: True.
        fc_channels (int): Width of ``fc6`` and ``fc7``. Default: 4096.
        dropout (float): Dropout probability after ``fc6`` and ``fc7``, in
            [0, 1). Default: 0.5.
        out_indices (Sequence[int]): Stages whose outputs are returned.
            Default: (2, 3, 5), i.e. pool3, pool4 and fc7 for FCN-8s.
        frozen_stages (int): Freeze (eval mode, no gradient) the first
            ``frozen_stages`` stages; -1 or 0 freezes none. Default: -1.
        conv_cfg (dict, optional): Config of every conv layer. Default: None
            (``nn.Conv2d``).
        norm_cfg (dict, optional): Norm after each conv of conv1..conv5, e.g.
            ``dict(type='BN')`` for torchvision's ``vgg16_bn``; ``fc6`` and
            ``fc7`` have none. Convs keep their bias either way, as in
            torchvision. Default: None.
        act_cfg (dict): Activation after every conv. Default:
            ``dict(type='ReLU')``.
        norm_eval (bool): Keep norm layers in eval mode while training.
            Default: False.
        init_cfg (dict | list[dict], optional): Initialization config.
            ``dict(type='Pretrained', checkpoint=PATH)`` loads a checkpoint in
            torchvision's layout (converted on the fly) or padseg's.
            Default: None (Kaiming init of the convs).

    Example:
        >>> import torch
        >>> from padseg.models.backbones.vgg import FCNVGG
        >>> model = FCNVGG(base_channels=8, fc_channels=64).eval()
        >>> for out in model(torch.rand(1, 3, 64, 64)):
        ...     print(tuple(out.shape))
        (1, 32, 33, 33)
        (1, 64, 17, 17)
        (1, 64, 3, 3)
    """

    def __init__(self,
                 depth: int = 16,
                 in_channels: int = 3,
                 base_channels: int = 64,
                 input_padding: int = 100,
                 with_fc: bool = True,
                 fc_channels: int = 4096,
                 dropout: float = 0.5,
                 out_indices: Sequence[int] = (2, 3, 5),
                 frozen_stages: int = -1,
                 conv_cfg: dict = None,
                 norm_cfg: dict = None,
                 act_cfg: dict = dict(type='ReLU'),
                 norm_eval: bool = False,
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        if depth not in ARCH_SETTINGS:
            raise ValueError(
                f'depth must be one of {sorted(ARCH_SETTINGS)}, got {depth!r}')
        for name, value in (('in_channels', in_channels),
                            ('base_channels', base_channels),
                            ('fc_channels', fc_channels)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f'{name} must be a positive int, got {value!r}')
        if not isinstance(input_padding, int) or input_padding < 0:
            raise ValueError(
                f'input_padding must be an int >= 0, got {input_padding!r}')
        if not 0 <= dropout < 1:
            raise ValueError(f'dropout must be in [0, 1), got {dropout!r}')
        num_stages = 6 if with_fc else 5
        out_indices = check_stage_indices(
            out_indices, frozen_stages, num_stages,
            note=' (5 is fc7, which needs with_fc=True)')
        self.depth = depth
        self.input_padding = input_padding
        self.with_fc = with_fc
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

        #: Names of the layers of each stage, in forward order.
        self.stage_names: List[Tuple[str, ...]] = []
        channels = in_channels
        for block, names in enumerate(conv_names(depth), 1):
            width = base_channels * STAGE_WIDTHS[block - 1]
            for name in names:
                padding = input_padding if name == 'conv1_1' else 1
                self.add_module(
                    name,
                    ConvModule(channels, width, 3, padding=padding, bias=True,
                               conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                               act_cfg=act_cfg))
                channels = width
            self.add_module(f'pool{block}',
                            nn.MaxPool2d(2, stride=2, ceil_mode=True))
            self.stage_names.append((*names, f'pool{block}'))
        if with_fc:
            self.fc6 = ConvModule(channels, fc_channels, 7, conv_cfg=conv_cfg,
                                  act_cfg=act_cfg)
            self.drop6 = nn.Dropout(dropout)
            self.fc7 = ConvModule(fc_channels, fc_channels, 1,
                                  conv_cfg=conv_cfg, act_cfg=act_cfg)
            self.drop7 = nn.Dropout(dropout)
            self.stage_names.append(('fc6', 'drop6', 'fc7', 'drop7'))
        self._freeze_stages()

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        outs = []
        for index, names in enumerate(self.stage_names):
            for name in names:
                x = getattr(self, name)(x)
            if index in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def frozen_modules(self) -> List[nn.Module]:
        return [
            getattr(self, name)
            for names in self.stage_names[:max(self.frozen_stages, 0)]
            for name in names
        ]

    # A ``Pretrained`` checkpoint in torchvision's or padseg's layout.
    convert_checkpoint = staticmethod(_convert_if_torchvision)


@register_model
class PADVGG(PADMixin, FCNVGG):
    """:class:`FCNVGG` with PAD layers in the conv blocks chosen by
    ``stage_with_pad``.

    Every 3x3 conv of a selected block becomes a
    :class:`~padseg.ops.PADConv2d` that starts with the conv's weight; ``fc6``
    and ``fc7`` always stay plain. The default, conv5_1..conv5_3, is the
    paper's PAD-VGG16 for FCN-8s/FCN-32s and ImageNet (Tables 8 and 9);
    Table 1 also tries conv3, conv4 and their combinations with conv5. All PAD
    layers form one chain (section 3.2). With every flag False the model is
    exactly :class:`FCNVGG`.

    A torchvision or padseg VGG checkpoint loads with only the PAD layers'
    ``aggregation.*`` parameters missing; they keep their start-up values
    and the log says so.

    Args:
        stage_with_pad (Sequence[bool]): One flag per conv block, conv1..conv5.
            Default: (False, False, False, False, True).
        pad_cfg (dict): :class:`~padseg.ops.PADConv2d` settings
            (``dilations``, ``aggregation``, ``tau``, ``hard``, ``inference``,
            ``act_cfg``). Default: ``dict(dilations=(1, 2, 4),
            aggregation='markov')``.
        **kwargs: The arguments of :class:`FCNVGG`.

    Example:
        >>> import torch
        >>> from padseg.models.backbones.vgg import PADVGG
        >>> from padseg.ops import pad_layers
        >>> model = PADVGG(base_channels=8, fc_channels=64).eval()
        >>> [name for name, _ in pad_layers(model)]
        ['conv5_1.conv', 'conv5_2.conv', 'conv5_3.conv']
        >>> model(torch.rand(1, 3, 64, 64))[-1].shape
        torch.Size([1, 64, 3, 3])
    """

    def __init__(self,
                 stage_with_pad: Sequence[bool] = (False, False, False, False,
                                                   True),
                 pad_cfg: dict = dict(dilations=(1, 2, 4),
                                      aggregation='markov'),
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_pad(stage_with_pad, pad_cfg)

    def pad_stages(self) -> List[Tuple[str, nn.Module]]:
        # conv1..conv5: the ConvModules of each block (fc6, fc7 are no stage)
        return [(f'conv{index + 1}',
                 nn.ModuleList(getattr(self, name) for name in names))
                for index, names in enumerate(conv_names(self.depth))]
