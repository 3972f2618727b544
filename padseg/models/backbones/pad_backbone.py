"""PAD in any backbone, from a config: ``PADBackbone``.

For a backbone padseg has no PAD form of (HRNet, MobileNetV3, MiT, a user's
own), wrap its config; by default the deepest stage's stride-1 kxk
convolutions become PAD layers (:mod:`padseg.models.placement`), or name
them::

    model = dict(backbone=dict(
        type='PADBackbone',
        backbone=dict(type='ResNetV1c', depth=50, ...),  # any registered one
        pad_layers=['layer4.*.conv2'],                  # fnmatch patterns
        pad_cfg=dict(dilations=(1, 2, 4))))

``PADBackbone`` is a builder, not a wrapper: it builds the backbone, swaps
each named ``nn.Conv2d`` for a PAD layer with the same geometry, weight,
bias and key (:func:`~padseg.models.utils.replace_with_pad`, as
:class:`PADMixin` does), links the PAD layers into one chain, freezes the
frozen stages again and returns the backbone itself. Its type, checkpoint
keys and ``init_cfg`` stay the user's, so the plain network's checkpoints
load (only the aggregations' weights are missing); a ``pretrained`` or
``init_cfg`` given to ``PADBackbone`` itself (mmseg's segmentors hand a
model-level ``pretrained`` to the backbone config) goes to the backbone. ``python
tools/analysis/pad_candidates.py CONFIG`` lists a backbone's convolutions by
name.
"""
import fnmatch
import re
from typing import List, Optional, Sequence, Union

from mmengine.logging import print_log
from mmengine.registry import MODELS
from torch import nn

from padseg.ops import PADChain, link_pad_chain, pad_layers
from ..placement import default_pad_layers
from ..utils import (check_pad_cfg, check_with_cp, plain_conv_refusal,
                     register_model, replace_with_pad)

__all__ = ['PADBackbone', 'match_pad_layers', 'link_branch_chains']


def match_pad_layers(model: nn.Module, patterns: Sequence[str]) -> List[str]:
    """Names of the modules of ``model`` that ``patterns`` (``fnmatch``,
    ``*`` also crosses dots) select, in the model's order.

    Raises:
        ValueError: when a pattern matches no module, or matches one that
            does not compute a plain convolution (an ``nn.Conv2d`` or a
            subclass that keeps its computation, such as mmcv's ``Conv2d``);
            naming the pattern, the module and why.
    """
    if (isinstance(patterns, str) or not isinstance(patterns, Sequence)
            or not patterns or not all(isinstance(p, str) for p in patterns)):
        raise ValueError('pad_layers must be a non-empty list of module name '
                         f"patterns such as 'layer4.*.conv2' (or left out: "
                         f'the default placement), got {patterns!r}')
    modules = dict(model.named_modules())
    chosen = set()
    for pattern in patterns:
        matched = [name for name in modules
                   if name and fnmatch.fnmatchcase(name, pattern)]
        if not matched:
            raise ValueError(
                f'pad_layers: {pattern!r} matches no module of '
                f'{type(model).__name__}; tools/analysis/pad_candidates.py '
                'lists its convolutions by name')
        for name in matched:
            refusal = plain_conv_refusal(modules[name])
            if refusal:
                raise ValueError(
                    f'pad_layers: {pattern!r} matches {name!r}, {refusal}; '
                    'PAD replaces plain convolutions only: name a plain conv '
                    '(inside it, if it holds one; tools/analysis/'
                    'pad_candidates.py lists them) or leave it out')
        chosen.update(matched)
    return [name for name in modules if name in chosen]


@register_model
def PADBackbone(backbone: dict, pad_layers: Optional[Sequence[str]] = None,
                pad_cfg: dict = dict(dilations=(1, 2, 4)),
                pretrained: Optional[str] = None,
                init_cfg: Optional[Union[dict, list]] = None) -> nn.Module:
    """Build ``backbone`` with the convolutions ``pad_layers`` names as PAD
    layers.

    Args:
        backbone (dict): The config of any backbone registered in the
            current scope (mmseg's, mmpretrain's, ``'mmpretrain.ConvNeXt'``).
        pad_layers (Sequence[str], optional): ``fnmatch`` patterns of
            module names (as ``named_modules()`` gives them), e.g.
            ``'layer4.*.conv2'``; every module a pattern matches must
            compute a plain convolution (``nn.Conv2d``, mmcv's ``Conv2d``)
            with an odd kernel of at least 3. None: the default placement
            (:func:`~padseg.models.placement.default_pad_layers`: the
            stride-1 kxk convolutions of the deepest stage, the paper's
            Table 1), listed in the log. Default: None.
        pad_cfg (dict): :class:`~padseg.ops.PADConv2d` settings (dilations,
            aggregation, tau, prior_init, ...). Default:
            ``dict(dilations=(1, 2, 4))``.
        pretrained (str, optional): Handed to the wrapped backbone as its
            own ``pretrained``: mmseg's segmentors pass a model-level
            ``pretrained`` (``open-mmlab://...`` in stock configs) to
            whatever their backbone config builds. Default: None.
        init_cfg (dict | list, optional): Handed to the wrapped backbone as
            its ``init_cfg`` (e.g. a ``Pretrained`` checkpoint of the plain
            network: it loads, only the aggregations' keys are missing).
            Default: None.

    Returns:
        nn.Module: the backbone itself, with PAD layers in place.

    Example:
        >>> import padseg, torch
        >>> from mmseg.registry import MODELS
        >>> from mmengine.registry import init_default_scope
        >>> init_default_scope('mmseg')
        >>> net = MODELS.build(dict(
        ...     type='PADBackbone', backbone=dict(type='ResNetV1c', depth=18),
        ...     pad_layers=['layer4.*.conv2']))
        >>> [o.shape[1] for o in net(torch.rand(1, 3, 64, 64))]
        [64, 128, 256, 512]
    """
    if not isinstance(backbone, dict) or 'type' not in backbone:
        raise ValueError('PADBackbone needs backbone=dict(type=..., ...), got '
                         f'{backbone!r}')
    pad_cfg = check_pad_cfg(pad_cfg)
    backbone = dict(backbone)
    for key, value in (('pretrained', pretrained), ('init_cfg', init_cfg)):
        if value is None:
            continue
        if backbone.get(key) is not None:
            raise ValueError(
                f'PADBackbone got {key} both for itself ({value!r}) and in '
                f'backbone ({backbone[key]!r}); set it in one place')
        backbone[key] = value
    model = MODELS.build(backbone)  # in the current scope, as mmseg would
    if pad_layers is None:
        names = default_pad_layers(model)
        print_log(f'PADBackbone: default placement in {type(model).__name__}'
                  f' (the deepest stage\'s stride-1 kxk convolutions): '
                  f'{len(names)} PAD layers: {", ".join(names)}',
                  logger='current')
    else:
        names = match_pad_layers(model, pad_layers)
    for name in names:
        try:
            replace_with_pad(model, name, pad_cfg)
        except ValueError as error:
            raise ValueError(f'pad_layers: {name!r}: {error}') from error
    # checkpointing may sit on the backbone or on any block inside it
    check_with_cp(model, any(getattr(module, 'with_cp', False) is True
                             for module in model.modules()))
    link_branch_chains(model)
    freeze = getattr(model, '_freeze_stages', None)
    if freeze is not None:  # the new aggregation weights of frozen stages
        freeze()
    return model


def _branch(name: str) -> Optional[str]:
    """The parallel branch a module belongs to (``'2'`` for
    ``stage3.0.branches.2.1.conv1`` in HRNet), None outside branches."""
    match = re.search(r'(?:^|\.)branches\.(\d+)\.', name)
    return match.group(1) if match else None


def link_branch_chains(model: nn.Module) -> List[PADChain]:
    """Link the PAD layers of ``model`` into chains that respect its
    structure: one chain per parallel branch of a multi-branch backbone
    (HRNet's ``branches.<i>``: each keeps one resolution through the
    stages), one for the layers outside branches; one chain in all for a
    single-branch backbone (:func:`~padseg.ops.link_pad_chain`). A chain
    follows execution order, so without this one branch would hand its
    prior to the next branch, at another resolution."""
    chain = link_pad_chain(model)
    groups = {}
    for name, layer in pad_layers(model):
        groups.setdefault(_branch(name), []).append(layer)
    if chain is None or len(groups) == 1:
        return [] if chain is None else [chain]
    chains = [chain]
    handles = list(model._pad_chain_handles)
    for key, layers in groups.items():
        if key is None:
            continue  # the trunk keeps the first chain
        branch_chain = PADChain()
        for layer in layers:
            layer.chain = branch_chain
        handles += [model.register_forward_pre_hook(branch_chain.reset),
                    model.register_forward_hook(branch_chain.reset)]
        chains.append(branch_chain)
    model._pad_chain_handles = tuple(handles)
    return chains
