"""The PAD convolution as the paper writes it (eq. 1): the definition.

:func:`pad_conv2d_reference` runs one full convolution per candidate dilation
and mixes the responses per pixel. Every faster path (:mod:`.fast_paths` on
the CPU) is tested against it, and ONNX export, tracing and compilation run
it. :mod:`.dispatch` chooses the path for each call.
"""
from typing import Optional, Sequence, Tuple

import torch.nn.functional as F
from torch import Tensor

__all__ = ['pad_conv2d_reference', 'Pair']

#: (height, width) of a stride, padding, dilation or kernel size
Pair = Tuple[int, int]


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
