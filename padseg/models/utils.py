"""Shared pieces of padseg's backbones: registration and PAD placement."""
from typing import Optional, Sequence

from mmseg.registry import MODELS as SEG_MODELS
from torch import nn

from padseg.ops import PADConv2d

__all__ = ['register_model', 'pad_conv_like', 'check_stage_flags']


def register_model(cls):
    """Register ``cls`` in mmseg's ``MODELS`` and, when mmpretrain is
    installed, in mmpretrain's ``MODELS`` too, so the same type name builds
    under both scopes."""
    SEG_MODELS.register_module(module=cls)
    try:
        from mmpretrain.registry import MODELS as CLS_MODELS
    except ImportError:
        return cls
    CLS_MODELS.register_module(module=cls)
    return cls


def pad_conv_like(conv: nn.Conv2d, pad_cfg: dict) -> PADConv2d:
    """A PAD layer with the geometry of ``conv`` and the PAD settings in
    ``pad_cfg`` (``dilations``, ``aggregation``, ``tau``, ...). The weight is
    freshly initialised; load or copy it afterwards.

    Raises:
        ValueError: if ``conv`` cannot become a PAD layer (1x1 or even
            kernel, non-zero padding mode), naming the reason.
    """
    if type(conv) is not nn.Conv2d:
        raise ValueError(
            f'PAD replaces plain nn.Conv2d layers, got {type(conv).__name__}')
    return PADConv2d(conv.in_channels, conv.out_channels, conv.kernel_size,
                     stride=conv.stride, padding=conv.padding,
                     dilation=conv.dilation, groups=conv.groups,
                     bias=conv.bias is not None,
                     padding_mode=conv.padding_mode, **pad_cfg)


def check_stage_flags(flags: Optional[Sequence[bool]], num_stages: int,
                      name: str = 'stage_with_pad') -> tuple:
    """Validate a per-stage tuple of bools (``None`` means all False)."""
    if flags is None:
        return (False, ) * num_stages
    flags = tuple(flags)
    if len(flags) != num_stages or not all(
            isinstance(f, bool) for f in flags):
        raise ValueError(
            f'{name} must be {num_stages} bools, one per stage, got {flags!r}')
    return flags
