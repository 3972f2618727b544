"""Read out the dilations PAD layers chose, for analysis and logging."""
from contextlib import contextmanager
from typing import Dict, Iterator, Tuple

import torch
from torch import Tensor, nn

from .pad_conv import PADConv2d, pad_layers

__all__ = [
    'record_dilations', 'candidate_values', 'expected_dilation',
    'selected_dilation'
]


@contextmanager
def record_dilations(model: nn.Module) -> Iterator[Dict[str, PADConv2d]]:
    """Make every PAD layer of ``model`` keep, inside the block, what its
    last call used: the hidden prior ``layer.last_prior`` (float32) and the
    dilation probabilities ``layer.last_probs`` (the Gumbel sample in
    training, the one-hot or soft weights in evaluation), both detached,
    ``(N, D, H_out, W_out)``; after a backward pass through a training call,
    also the prior's gradient ``layer.last_prior_grad`` (float32, same
    shape). The one way to read dilations: the logging
    hook and :mod:`padseg.analysis` use it.

    Yields ``{name: layer}``; on exit recording stops and the kept tensors
    are dropped, so nothing stays alive when nobody asks.
    """
    layers = dict(pad_layers(model))
    for layer in layers.values():  # blocks may nest: count them
        layer.recording += 1
    try:
        yield layers
    finally:
        for layer in layers.values():
            layer.recording -= 1
            if not layer.recording:
                layer.last_prior = layer.last_probs = None
                layer.last_prior_grad = None


def candidate_values(layer: PADConv2d) -> Tuple[int, ...]:
    """The layer's candidate dilations in pixels (vertical)."""
    return tuple(d[0] for d in layer.candidate_dilations)


def _candidate_values(layer: PADConv2d, like: Tensor) -> Tensor:
    return torch.tensor(candidate_values(layer), dtype=like.dtype,
                        device=like.device).view(1, -1, 1, 1)


def expected_dilation(layer: PADConv2d, probs: Tensor) -> Tensor:
    """Per-pixel expected (vertical) dilation ``sum_k p_k d_k``, ``(N, H, W)``."""
    return (probs * _candidate_values(layer, probs)).sum(dim=1)


def selected_dilation(layer: PADConv2d, probs: Tensor) -> Tensor:
    """Per-pixel most probable (vertical) dilation, ``(N, H, W)``."""
    values = _candidate_values(layer, probs).flatten()
    return values[probs.argmax(dim=1)]
