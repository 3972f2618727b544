"""Activation maps (figures 5 and 11): how strongly a layer responds where."""
from typing import Iterable

import torch
from torch import Tensor, nn

from padseg.ops import pad_layers
from .receptive_field import layer_output

__all__ = ['activation_map', 'default_layer']


def activation_map(model: nn.Module, inputs: Tensor, layer: str) -> Tensor:
    """Mean absolute activation over the channels of ``layer``'s output,
    ``(N, H, W)``, in the model's current mode (use eval)."""
    with torch.no_grad():
        return layer_output(model, inputs, layer).abs().mean(dim=1)


def default_layer(models: Iterable[nn.Module]) -> str:
    """The layer to compare by default: the last PAD layer of the first model
    that has one (a PAD model keeps the module names of its vanilla twin, so
    the name exists in both); ``'backbone'`` (its last output) otherwise."""
    for model in models:
        names = [name for name, _ in pad_layers(model)]
        if names:
            return names[-1]
    return 'backbone'
