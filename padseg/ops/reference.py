"""The PAD convolution as the paper writes it (eq. 1): the definition.

:func:`pad_conv2d_reference` runs one full convolution per candidate dilation
and mixes the responses per pixel. Every faster path (:mod:`.fast_paths` on
the CPU) is tested against it, and ONNX export, tracing and compilation run
it. :mod:`.dispatch` chooses the path for each call.
"""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .geometry import Pair

__all__ = ['pad_conv2d_reference', 'Pair', 'autocast_operands']


def pad_conv2d_reference(x: Tensor, weight: Tensor, bias: Optional[Tensor],
                         probs: Tensor, stride: Pair,
                         paddings: Sequence[Pair], dilations: Sequence[Pair],
                         groups: int) -> Tensor:
    """Straightforward PAD convolution: one full convolution per candidate,
    mixed per pixel by ``probs`` (``(N, D, H_out, W_out)``), then the bias.

    This is the definition the fast paths are checked against.
    """
    out = None
    for k, (padding, dilation) in enumerate(zip(paddings, dilations)):
        response = F.conv2d(x, weight, None, stride, padding, dilation, groups)
        term = probs[:, k:k + 1].to(response.dtype) * response
        out = term if out is None else out + term
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1).to(out.dtype)
    return out


def autocast_operands(x: Tensor, weight: Tensor, bias: Optional[Tensor]):
    """``x``, ``weight`` and ``bias`` in the dtype ``F.conv2d`` computes in,
    as the reference does by itself: autocast's when autocast is on for
    their device, else the input's. The paths that do their own products
    (CPU fast paths, Triton kernels) take their operands through this."""
    device = x.device.type
    try:  # torch >= 2.4
        autocast = torch.is_autocast_enabled(device)
        dtype = torch.get_autocast_dtype(device) if autocast else x.dtype
    except TypeError:
        autocast = device == 'cuda' and torch.is_autocast_enabled()
        dtype = torch.get_autocast_gpu_dtype() if autocast else x.dtype
    return (x.to(dtype), weight.to(dtype),
            None if bias is None else bias.to(dtype))
