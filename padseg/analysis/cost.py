"""Model cost (table 6): parameters, the parameters PAD adds, FLOPs."""
from typing import Dict, Tuple

import torch
from mmengine.analysis import get_model_complexity_info
from torch import nn

from padseg.ops import pad_layers

__all__ = ['pad_parameter_count', 'model_cost']


def pad_parameter_count(model: nn.Module) -> int:
    """Parameters PAD adds: those of every PAD layer's aggregation (the
    shared ``weight`` and ``bias`` are the plain conv's)."""
    return sum(param.numel() for _, layer in pad_layers(model)
               for param in layer.aggregation.parameters())


def model_cost(model: nn.Module, shape: Tuple[int, int],
               in_channels: int = 3) -> Dict[str, float]:
    """Parameters and FLOPs of ``model`` on one ``(in_channels, *shape)``
    input.

    Returns ``params``, ``pad_params`` (Δp#), ``pad_percent`` (Δp# over the
    size of the vanilla model, p# - Δp#, in %, as table 6) and ``flops``
    (MMEngine's counter: one multiply-add is one FLOP; a PAD layer counts its
    ``D`` candidate convolutions and its 1x1 prior conv, the reference
    computation of eq. 1-2 that tracing runs).
    """
    params = sum(p.numel() for p in model.parameters())
    pad_params = pad_parameter_count(model)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            info = get_model_complexity_info(
                model, input_shape=(in_channels, *shape), show_table=False,
                show_arch=False)
    finally:
        model.train(was_training)
    return dict(params=params,
                pad_params=pad_params,
                pad_percent=100.0 * pad_params / (params - pad_params),
                flops=float(info['flops']))
