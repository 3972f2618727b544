"""A trained PAD model, deployed cheaply: PAD layers that chose one dilation
become plain convolutions.

A PAD layer whose argmax picks one candidate on (almost) every pixel
computes that candidate's convolution; as a plain ``nn.Conv2d`` with the
candidate's dilation and padding and the same weight and bias it costs one
convolution and no prior. :func:`freeze_pad_layers` makes the swap in a
built model; :func:`FrozenPADBackbone` (a config type) builds any backbone
config and makes it, so a frozen model has a config of its own;
``tools/deployment/pad_freeze.py`` decides which layers, from their shares
on the val set, and writes the config and the checkpoint.
"""
from typing import Dict, Mapping

from mmengine.registry import MODELS
from torch import nn

from padseg.ops import PADConv2d, link_pad_chain, pad_layers
from .utils import register_model

__all__ = ['freeze_pad_layers', 'FrozenPADBackbone', 'plain_conv_of',
           'check_freezable']


def plain_conv_of(layer: PADConv2d, dilation: int) -> nn.Conv2d:
    """The plain convolution ``layer`` computes where every pixel picks the
    candidate of multiplier ``dilation``: same weight and bias (shared, not
    copied), that candidate's dilation and padding."""
    if dilation not in layer.dilations:
        raise ValueError(f'dilation {dilation!r} is not a candidate of this '
                         f'PAD layer (dilations {layer.dilations})')
    k = layer.dilations.index(dilation)
    conv = nn.Conv2d(layer.in_channels, layer.out_channels,
                     layer.kernel_size, stride=layer.stride,
                     padding=layer.candidate_paddings[k],
                     dilation=layer.candidate_dilations[k],
                     groups=layer.groups, bias=layer.bias is not None,
                     device=layer.weight.device, dtype=layer.weight.dtype)
    conv.weight = layer.weight
    if layer.bias is not None:
        conv.bias = layer.bias
    return conv


def check_freezable(model: nn.Module, names) -> Dict[str, str]:
    """Which of the PAD layers ``names`` cannot become plain convolutions,
    and why: a layer whose prior the next PAD layer of its chain reads
    (Recurrent, Gated) while that layer stays PAD; its prior must still be
    computed. ``{}`` when all can."""
    layers = list(pad_layers(model))
    chosen = set(names)
    blocked = {}
    for i, (name, layer) in enumerate(layers):
        if name not in chosen:
            continue
        if layer.chain is None:
            continue
        readers = [(n, l) for n, l in layers[i + 1:]
                   if l.chain is layer.chain and n not in chosen
                   and l.aggregation.uses_previous_prior]
        if readers:
            reader, kept = readers[0]
            blocked[name] = (f'its prior feeds {reader!r} '
                             f'({type(kept.aggregation).__name__}), which '
                             'stays PAD')
    return blocked


def freeze_pad_layers(model: nn.Module,
                      frozen: Mapping[str, int]) -> nn.Module:
    """Replace each PAD layer ``name`` of ``frozen`` (``{name: dilation
    multiplier}``) in ``model`` by :func:`plain_conv_of`, under the same
    key; the remaining PAD layers keep their chains. Returns ``model``.

    Raises:
        ValueError: naming a name that is not a PAD layer of ``model``, a
            dilation that is not one of its candidates, or a layer whose
            prior a remaining layer needs (:func:`check_freezable`).
    """
    if not isinstance(frozen, Mapping):
        raise ValueError('frozen must be a dict {PAD layer name: dilation}, '
                         f'got {frozen!r}')
    layers = dict(pad_layers(model))
    for name, dilation in frozen.items():
        if name not in layers:
            raise ValueError(
                f'frozen: {name!r} is not a PAD layer of '
                f'{type(model).__name__} (its PAD layers: '
                f'{", ".join(layers) or "none"})')
        if dilation not in layers[name].dilations:
            raise ValueError(
                f'frozen: {name!r} has dilations {layers[name].dilations}, '
                f'not {dilation!r}')
    blocked = check_freezable(model, frozen)
    if blocked:
        name, why = next(iter(blocked.items()))
        raise ValueError(f'frozen: {name!r} cannot become a plain '
                         f'convolution: {why}')
    for name, dilation in frozen.items():
        owner_name, _, attr = name.rpartition('.')
        owner = model.get_submodule(owner_name)
        setattr(owner, attr, plain_conv_of(layers[name], dilation))
    # The remaining layers keep their chains (one per branch in HRNet) and
    # the model its reset hooks: no remaining chained layer read a frozen
    # layer's prior (checked above). Layers that never were linked are.
    link_pad_chain(model, only_unlinked=True)
    return model


@register_model
def FrozenPADBackbone(backbone: dict, frozen: Dict[str, int]) -> nn.Module:
    """Build ``backbone`` (any backbone config with PAD layers: padseg's
    PAD backbones, ``PADBackbone``) and make the PAD layers ``frozen``
    names (``{name: dilation multiplier}``) plain convolutions at that
    dilation (:func:`freeze_pad_layers`). What
    ``tools/deployment/pad_freeze.py`` writes into a frozen model's config;
    the frozen model's checkpoint has the plain layers' weights under the
    same keys and none of their priors."""
    if not isinstance(backbone, dict) or 'type' not in backbone:
        raise ValueError('FrozenPADBackbone needs backbone=dict(type=..., '
                         f'...), got {backbone!r}')
    model = MODELS.build(dict(backbone))
    return freeze_pad_layers(model, frozen)
