"""Which path computes a PAD convolution: the one place that decides.

:func:`pad_conv2d` is what :class:`~padseg.ops.PADConv2d` calls. Reading it
top to bottom gives every path and the test that selects it; the paths
themselves are :func:`~padseg.ops.reference.pad_conv2d_reference` (the
definition) and the CPU paths of :mod:`padseg.ops.fast_paths`.
"""
import os
import warnings
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .fast_paths import needs_grad, pad_conv2d_columns, pad_conv2d_gather
from .reference import Pair, pad_conv2d_reference

try:  # torch >= 2.3
    from torch.compiler import is_compiling as _is_compiling
except ImportError:
    from torch._dynamo import is_compiling as _is_compiling

__all__ = [
    'pad_conv2d', 'one_hot_candidates', 'fast_paths_apply', 'triton_wanted',
    'GPU_KERNELS'
]

#: Values of a PAD layer's ``gpu_kernel`` (None: ``PADSEG_TRITON`` decides).
GPU_KERNELS = (None, 'reference', 'triton')
#: What the Triton kernels take; anything else runs the reference.
_TRITON_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
#: Set when the Triton kernels failed here: the reason, warned once.
_triton_broken = {}

#: Fewer input channels per group than this (depthwise convolutions) make
#: matrix products too thin to beat PyTorch's own grouped convolutions.
_MIN_GROUP_CHANNELS = 16


def fast_paths_apply(x: Tensor, weight: Tensor) -> bool:
    """Whether the CPU paths of :mod:`.fast_paths` are worth it: on the CPU,
    where they were measured (they compute the same on any device), with
    enough channels per group."""
    return x.device.type == 'cpu' and weight.shape[1] >= _MIN_GROUP_CHANNELS


def one_hot_candidates(probs: Tensor) -> Optional[Tensor]:
    """The candidate of each pixel, ``(N, H_out, W_out)``, when ``probs`` is
    exactly one-hot (argmax evaluation); None otherwise."""
    top, index = probs.max(dim=1)
    # A 1 per pixel and non-negative values that sum to 1: zeros elsewhere.
    if (bool((top == 1).all()) and bool((probs >= 0).all())
            and bool((probs.sum(dim=1) == 1).all())):
        return index
    return None


def _exporting() -> bool:
    return (torch.onnx.is_in_onnx_export() or torch.jit.is_tracing()
            or _is_compiling())


def _on_gpu(x: Tensor) -> bool:
    return x.is_cuda


def triton_wanted(x: Tensor, gpu_kernel: Optional[str] = None) -> bool:
    """Whether this call goes to the Triton kernels: a CUDA tensor of a dtype
    they take, the layer's ``gpu_kernel='triton'`` (or None and
    ``PADSEG_TRITON=1``), and no earlier failure of the kernels here."""
    if not _on_gpu(x) or x.dtype not in _TRITON_DTYPES or _triton_broken:
        return False
    if gpu_kernel is None:
        value = os.environ.get('PADSEG_TRITON', '0').strip().lower()
        if value not in ('0', '1', 'false', 'true', 'no', 'yes', ''):
            raise ValueError(f'PADSEG_TRITON={value!r}: use 1 (the Triton '
                             'PAD kernels on CUDA) or 0 (the reference, the '
                             'default)')
        return value in ('1', 'true', 'yes')
    return gpu_kernel == 'triton'


def triton_failed(error: BaseException) -> None:
    """Use the reference from now on, and say why once."""
    if not _triton_broken:
        _triton_broken['reason'] = f'{type(error).__name__}: {error}'
        warnings.warn(
            'padseg: the Triton PAD kernels failed on this GPU '
            f'({_triton_broken["reason"][:300]}); PAD layers use the '
            'reference (one cuDNN convolution per candidate) from now on.')


def _triton(x, weight, bias, probs, stride, paddings, dilations, groups,
            index) -> Optional[Tensor]:
    """The Triton kernels' result, or None when they cannot run here."""
    try:
        from . import triton_pad
        if index is not None:
            return triton_pad.pad_conv2d_triton_argmax(
                x, weight, bias, index, stride, paddings, dilations, groups)
        return triton_pad.pad_conv2d_triton(x, weight, bias, probs, stride,
                                            paddings, dilations, groups)
    except Exception as error:  # no triton, no compiler for this GPU, ...
        triton_failed(error)
        return None


def pad_conv2d(x: Tensor, weight: Tensor, bias: Optional[Tensor],
               probs: Tensor, stride: Pair, paddings: Sequence[Pair],
               dilations: Sequence[Pair], groups: int,
               index: Optional[Tensor] = None,
               gpu_kernel: Optional[str] = None) -> Tensor:
    """PAD convolution: the output and every gradient of
    :func:`pad_conv2d_reference`, at about the cost of one convolution.

    ``index`` (optional, ``(N, H_out, W_out)``): the candidate of each pixel
    when the caller knows ``probs`` to be its one-hot (argmax evaluation),
    which saves checking ``probs``. ``gpu_kernel``: the layer's choice of
    kernel on CUDA (see :func:`triton_wanted`).

    * one-hot ``probs`` that need no gradient (argmax evaluation): a plain
      convolution when every pixel picks the same candidate, else each
      pixel's columns gathered at its own dilation and one matrix product;
    * anything else (training, soft evaluation): the candidates mixed in the
      im2col columns, one matrix product, gradients by the adjoint
      (:mod:`padseg.ops.fast_paths`);
    * CUDA with the Triton kernels asked for (:func:`triton_wanted`): the
      same two designs as Triton kernels (:mod:`padseg.ops.triton_pad`);
      if they fail to compile or run, one warning and the reference;
    * ONNX export, tracing, compilation, convolutions with few channels per
      group (depthwise), where a matrix product gains nothing over PyTorch's
      own kernels, and other devices: the reference, without the
      candidates that no pixel uses when ``probs`` is one-hot and needs no
      gradient.
    """
    if _exporting() or probs.shape[1] == 1:
        return pad_conv2d_reference(x, weight, bias, probs, stride, paddings,
                                    dilations, groups)
    if needs_grad(x, weight, bias, probs):
        index = None
    elif index is None:
        index = one_hot_candidates(probs)
    if index is not None:
        counts = torch.bincount(index.flatten(), minlength=probs.shape[1])
        used = [k for k, count in enumerate(counts.tolist()) if count]
        if len(used) == 1:
            return F.conv2d(x, weight, bias, stride, paddings[used[0]],
                            dilations[used[0]], groups)
    if triton_wanted(x, gpu_kernel):
        out = _triton(x, weight, bias, probs, stride, paddings, dilations,
                      groups, index)
        if out is not None:
            return out
    if not fast_paths_apply(x, weight):
        if index is not None:
            probs, paddings, dilations = (probs[:, used],
                                          [paddings[k] for k in used],
                                          [dilations[k] for k in used])
        return pad_conv2d_reference(x, weight, bias, probs, stride, paddings,
                                    dilations, groups)
    if index is not None:
        return pad_conv2d_gather(x, weight, bias, index, stride, paddings,
                                 dilations, groups)
    return pad_conv2d_columns(x, weight, bias, probs, stride, paddings,
                              dilations, groups)
