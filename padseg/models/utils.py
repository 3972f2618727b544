"""Shared pieces of padseg's backbones: registration, PAD placement, frozen
stages and pretrained checkpoints."""
import inspect
import logging
import re
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.runner.checkpoint import CheckpointLoader
from mmseg.registry import MODELS as SEG_MODELS
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from padseg.ops import PADConv2d, pad_layers

__all__ = [
    'register_model', 'PAD_CFG_KEYS', 'check_pad_cfg', 'pad_conv_like',
    'plain_conv_refusal',
    'pad_candidates', 'replace_with_pad', 'check_stage_flags', 'check_with_cp',
    'check_stage_indices', 'FrozenStagesMixin', 'PretrainedMixin',
    'load_pretrained',
    'log_checkpoint_keys'
]

#: The PAD layer settings a backbone's ``pad_cfg`` may hold: the arguments of
#: :class:`PADConv2d` beyond those of ``nn.Conv2d`` (the geometry comes from
#: the conv that PAD replaces).
PAD_CFG_KEYS = tuple(
    name for name in inspect.signature(PADConv2d).parameters
    if name not in inspect.signature(nn.Conv2d).parameters)


def register_model(cls=None, *, scopes=('mmseg', 'mmpretrain')):
    """Register ``cls`` in mmseg's ``MODELS`` and, when mmpretrain is
    installed, in mmpretrain's ``MODELS`` too, so the same type name builds
    under both scopes; ``scopes=('mmseg', )`` for mmseg's only (used as
    ``@register_model`` or ``@register_model(scopes=...)``)."""
    if cls is None:
        return lambda cls: register_model(cls, scopes=scopes)
    if 'mmseg' in scopes:
        SEG_MODELS.register_module(module=cls)
    if 'mmpretrain' not in scopes:
        return cls
    try:
        from mmpretrain.registry import MODELS as CLS_MODELS
    except ImportError:
        return cls
    CLS_MODELS.register_module(module=cls)
    return cls


def check_pad_cfg(pad_cfg: dict) -> dict:
    """A copy of a backbone's ``pad_cfg``, checked to be a dict of
    :data:`PAD_CFG_KEYS` settings.

    Raises:
        ValueError: if ``pad_cfg`` is not a dict or has another key, naming
            that key.
    """
    if not isinstance(pad_cfg, dict):
        raise ValueError(f'pad_cfg must be a dict, got {pad_cfg!r}')
    unknown = [key for key in pad_cfg if key not in PAD_CFG_KEYS]
    if unknown:
        raise ValueError(
            f'pad_cfg has unknown key(s) {", ".join(map(repr, unknown))}; '
            f'the PAD layer settings are {PAD_CFG_KEYS}')
    return dict(pad_cfg)


def _plain_forwards() -> tuple:
    """The forward passes that compute a plain convolution: ``nn.Conv2d``'s
    and mmcv's ``Conv2d`` wrapper's (which only adds empty-input handling
    for old torch versions)."""
    forwards = [nn.Conv2d.forward]
    try:
        from mmcv.cnn.bricks.wrappers import Conv2d as MMCVConv2d
        forwards.append(MMCVConv2d.forward)
    except ImportError:
        pass
    return tuple(forwards)


def plain_conv_refusal(module: nn.Module) -> Optional[str]:
    """None when ``module`` computes a plain convolution that PAD can take
    over (an ``nn.Conv2d`` or a subclass that keeps its computation, such as
    mmcv's ``Conv2d``), else why not, in words."""
    name = type(module).__name__
    if isinstance(module, PADConv2d):
        return 'already a PAD layer'
    if not isinstance(module, nn.Conv2d):
        return f'a {name}, not an nn.Conv2d'
    if (type(module).forward not in _plain_forwards()
            or type(module)._conv_forward is not nn.Conv2d._conv_forward):
        return (f'a {name}, whose forward is not a plain convolution (PAD '
                'would drop what it adds, e.g. adaptive padding or weight '
                'standardisation)')
    return None


def pad_conv_like(conv: nn.Conv2d, pad_cfg: dict) -> PADConv2d:
    """A PAD layer with the geometry of ``conv`` and the PAD settings in
    ``pad_cfg`` (``dilations``, ``aggregation``, ``tau``, ...). The weight is
    freshly initialised; :func:`replace_with_pad` also copies it.

    Raises:
        ValueError: if ``conv`` cannot become a PAD layer (not a plain
            convolution, 1x1 or even kernel, non-zero padding mode), naming
            the reason.
    """
    refusal = plain_conv_refusal(conv)
    if refusal:
        raise ValueError(
            f'PAD replaces plain convolutions; this one is {refusal}')
    return PADConv2d(conv.in_channels, conv.out_channels, conv.kernel_size,
                     stride=conv.stride, padding=conv.padding,
                     dilation=conv.dilation, groups=conv.groups,
                     bias=conv.bias is not None,
                     padding_mode=conv.padding_mode, **pad_cfg)


def pad_candidates(module: nn.Module) -> List[str]:
    """Names (as ``module.named_modules()`` gives them) of the plain stride-1
    kxk (k >= 3) convs inside ``module``: those the placement rule turns into
    PAD layers. Strided, 1x1 and non-plain convs stay."""
    return [
        name for name, conv in module.named_modules()
        if plain_conv_refusal(conv) is None and conv.stride == (1, 1)
        and min(conv.kernel_size) >= 3
    ]


def replace_with_pad(parent: nn.Module, name: str,
                     pad_cfg: dict) -> PADConv2d:
    """Swap the plain conv ``name`` inside ``parent`` (an attribute, or a
    dotted path as ``named_modules`` gives it) for a PAD layer built by
    :func:`pad_conv_like` that starts with the conv's weight and bias, under
    the same key, so the model starts as the plain one and its checkpoints
    still load. The swap draws nothing from the global random generator (the
    new layer's throw-away initial weight is drawn from a forked one), so a
    PAD model and its plain twin built after the same seed also initialise
    every part they share alike: a comparison paired by seed."""
    # nn.Module.set_submodule came with torch 2.5 (and changed for a name
    # without a dot in 2.6); padseg supports torch >= 2.1, so by hand.
    owner_name, _, attr = name.rpartition('.')
    owner = parent.get_submodule(owner_name)
    conv = getattr(owner, attr)
    with torch.random.fork_rng(devices=[]):
        pad = pad_conv_like(conv, pad_cfg)
    with torch.no_grad():
        pad.weight.copy_(conv.weight)
        if conv.bias is not None:
            pad.bias.copy_(conv.bias)
    setattr(owner, attr, pad)
    return pad


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


def check_with_cp(model: nn.Module, with_cp: bool) -> None:
    """Refuse gradient checkpointing (``with_cp=True``) when a PAD layer of
    ``model`` carries the previous layer's prior: a block re-computed in the
    backward pass would not see it.

    Raises:
        ValueError: naming ``with_cp`` and the aggregation.
    """
    if not with_cp:
        return
    chained = {
        type(layer.aggregation).__name__
        for _, layer in pad_layers(model)
        if layer.aggregation.uses_previous_prior
    }
    if chained:
        raise ValueError(
            'with_cp=True cannot be combined with an aggregation that uses '
            f'the previous prior ({", ".join(sorted(chained))}): a '
            're-computed block would not see it; use '
            "pad_cfg aggregation='markov' or with_cp=False")


def check_stage_indices(out_indices: Sequence[int], frozen_stages: int,
                        num_stages: int, increasing: bool = False,
                        note: str = '') -> Tuple[int, ...]:
    """``out_indices`` as a tuple, after checking that it names distinct
    stages ``0..num_stages-1`` (in increasing order if ``increasing``) and
    that ``frozen_stages`` is in ``-1..num_stages``; ``ValueError`` naming
    the argument otherwise (``note`` is added to the out_indices message)."""
    out_indices = tuple(out_indices)
    valid = (bool(out_indices) and len(set(out_indices)) == len(out_indices)
             and all(_int_in(i, 0, num_stages - 1) for i in out_indices))
    if valid and increasing:
        valid = list(out_indices) == sorted(out_indices)
    if not valid:
        order = 'increasing' if increasing else 'distinct'
        raise ValueError(f'out_indices must be {order} stage indices in '
                         f'0..{num_stages - 1}{note}, got {out_indices!r}')
    if not _int_in(frozen_stages, -1, num_stages):
        raise ValueError(f'frozen_stages must be in -1..{num_stages}, '
                         f'got {frozen_stages!r}')
    return out_indices


def _int_in(value, low: int, high: int) -> bool:
    """``value`` is an int (not a bool) in ``low..high``."""
    return (isinstance(value, int) and not isinstance(value, bool)
            and low <= value <= high)


class FrozenStagesMixin:
    """``train()`` of a backbone with ``frozen_stages`` and ``norm_eval`` as
    in mmseg's ResNet: the modules that :meth:`frozen_modules` lists stay in
    eval mode without gradients, and with ``norm_eval`` every BN layer stays
    in eval mode.

    Put it before ``BaseModule`` in the bases; the class sets
    ``self.norm_eval`` and defines :meth:`frozen_modules`.
    """

    norm_eval: bool

    def frozen_modules(self) -> List[nn.Module]:
        """The modules of the frozen stages, stem included."""
        raise NotImplementedError

    def _freeze_stages(self) -> None:
        for module in self.frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> nn.Module:
        """Train mode, keeping frozen stages and (with ``norm_eval``) norm
        layers in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self


def load_pretrained(module: BaseModule,
                    convert: Optional[Callable[[Dict], Dict]] = None) -> bool:
    """Load the checkpoint of ``module.init_cfg`` when it is
    ``dict(type='Pretrained', checkpoint=..., prefix=None, map_location=...)``
    and log it with :func:`log_checkpoint_keys` (expected missing PAD
    aggregation weights as one info line, any other mismatch as a warning).

    The checkpoint's ``state_dict`` (or the whole file) without a
    DataParallel ``module.``, with only the keys under ``prefix`` (e.g.
    ``'backbone.'``, which is removed), goes through ``convert`` if given (a
    public layout to the module's keys; a state dict already in that layout
    must pass unchanged) and loads non-strictly.

    Returns:
        bool: Whether a checkpoint was loaded; if not, apply the ``init_cfg``
        as usual (``super().init_weights()``).
    """
    cfg = module.init_cfg
    if module.is_init or not (isinstance(cfg, dict)
                              and cfg.get('type') == 'Pretrained'):
        return False
    checkpoint = CheckpointLoader.load_checkpoint(
        cfg['checkpoint'],
        map_location=cfg.get('map_location', 'cpu'),
        logger='current')
    # As mmengine's Pretrained init: without a DataParallel 'module.'.
    state_dict = {
        re.sub(r'^module\.', '', key): value
        for key, value in checkpoint.get('state_dict', checkpoint).items()
    }
    prefix = cfg.get('prefix')
    if prefix:  # e.g. 'backbone.' to take it from a whole model
        prefix = prefix if prefix.endswith('.') else prefix + '.'
        state_dict = {
            key[len(prefix):]: value
            for key, value in state_dict.items() if key.startswith(prefix)
        }
    if convert is not None:
        state_dict = convert(state_dict)
    result = module.load_state_dict(state_dict, strict=False)
    log_checkpoint_keys(
        type(module).__name__, cfg['checkpoint'], result.missing_keys,
        result.unexpected_keys)
    module.is_init = True
    return True


class PretrainedMixin:
    """``init_weights()`` of a backbone whose ``Pretrained`` checkpoints may
    come in another library's layout: the one way padseg's backbones load
    them (:func:`load_pretrained`, then :meth:`convert_checkpoint`).

    Put it before ``BaseModule`` in the bases and set
    ``convert_checkpoint = staticmethod(<layout -> this backbone's keys>)``;
    the function must pass a state dict already in this backbone's layout
    unchanged. The same function backs the backbone's converter script in
    ``tools/model_converters/``. Any other ``init_cfg`` applies as usual.
    """

    @staticmethod
    def convert_checkpoint(state_dict: Dict) -> Dict:
        """The backbone's own layout: nothing to convert."""
        return state_dict

    def init_weights(self) -> None:
        """Load a ``Pretrained`` checkpoint (converted), or apply the
        ``init_cfg`` as ``BaseModule`` does."""
        if not load_pretrained(self, convert=self.convert_checkpoint):
            super().init_weights()


def log_checkpoint_keys(owner_name: str, filename: str, missing: List[str],
                        unexpected: List[str]) -> None:
    """Log the load of checkpoint ``filename`` into ``owner_name``.

    PAD aggregation weights that the checkpoint lacks (a plain network's
    checkpoint in a PAD backbone) are expected: one info line names their
    PAD layers. Any other missing key (``num_batches_tracked`` aside, as in
    mmengine) or unexpected key is a warning.
    """
    aggregation = [key for key in missing if '.aggregation.' in key]
    other = [
        key for key in missing
        if '.aggregation.' not in key and 'num_batches_tracked' not in key
    ]
    print_log(f'{owner_name}: loaded {filename}', logger='current')
    if aggregation:
        layers = list(
            dict.fromkeys(key.split('.aggregation.')[0]
                          for key in aggregation))
        print_log(
            f'{owner_name}: the checkpoint has no PAD aggregation weights '
            f'for {len(layers)} PAD layers ({", ".join(layers)}); they keep '
            "their start-up values (the layers' prior_init; with the default "
            "'base' each PAD layer prefers its own dilation)",
            logger='current')
    if other or unexpected:
        print_log(
            f'{owner_name}: {filename} does not match the model: missing '
            f'{other}, unexpected {unexpected}',
            logger='current',
            level=logging.WARNING)
