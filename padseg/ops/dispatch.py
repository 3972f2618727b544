"""Which path computes a PAD convolution: the one place that decides.

:func:`pad_conv2d` is what :class:`~padseg.ops.PADConv2d` calls. Reading it
top to bottom gives every path and the test that selects it; the paths
themselves are :func:`~padseg.ops.reference.pad_conv2d_reference` (the
definition, one convolution per candidate) and the columns paths of
:mod:`padseg.ops.fast_paths` (one convolution's matrix work). This module
only decides; what a layer does when a path fails is the layer's
(:class:`~padseg.ops.PADConv2d`).
"""
import os
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .fast_paths import pad_conv2d_columns, pad_conv2d_gather
from .geometry import Pair
from .reference import autocast_operands, pad_conv2d_reference

try:  # torch >= 2.3
    from torch.compiler import is_compiling as _is_compiling
except ImportError:
    from torch._dynamo import is_compiling as _is_compiling

__all__ = ['pad_conv2d', 'needs_grad', 'one_hot_candidates',
           'own_path_applies', 'gpu_kernel_choice', 'check_gpu_kernel',
           'GPU_KERNELS']

#: Values of a PAD layer's ``gpu_kernel`` (None: ``PADSEG_GPU_KERNEL``
#: decides, default ``'reference'``).
GPU_KERNELS = (None, 'reference', 'columns')
#: Kernels that lost to the reference on every layer measured and were
#: removed (docs/benchmarks.md), with what to use instead.
_REMOVED = {
    'triton': "padseg's Triton kernels lost to the reference on an H200 "
              '(every training step, 7 of 8 argmax shapes) and were '
              'removed',
    'dominant': 'the dominant-candidate argmax lost to the reference on '
                'every layer shape measured on an H200 and was removed',
}
_ENVIRONMENT = 'PADSEG_GPU_KERNEL'

#: Fewer input channels per group than this (depthwise convolutions) make
#: matrix products too thin to beat PyTorch's own grouped convolutions.
_MIN_GROUP_CHANNELS = 16


def check_gpu_kernel(value: Optional[str], where: str = 'gpu_kernel') -> None:
    """Raise a ValueError naming ``where`` unless ``value`` is one of
    :data:`GPU_KERNELS`."""
    if value in _REMOVED:
        raise ValueError(
            f'{where}={value!r}: {_REMOVED[value]} (docs/benchmarks.md); use '
            "'columns' (one matrix product per step) or 'reference' (one "
            'cuDNN convolution per candidate, the default)')
    if value not in GPU_KERNELS:
        raise ValueError(f'{where} must be one of {GPU_KERNELS}, got '
                         f'{value!r}')


def gpu_kernel_choice(gpu_kernel: Optional[str] = None) -> str:
    """The path a CUDA call takes: the layer's ``gpu_kernel``, or with None
    the environment variable ``PADSEG_GPU_KERNEL`` (unset: ``'reference'``,
    the path measured fastest so far)."""
    if os.environ.get('PADSEG_TRITON'):
        raise ValueError(
            'PADSEG_TRITON is set, but ' + _REMOVED['triton'] + '; unset it '
            f'and set {_ENVIRONMENT}=columns or reference instead')
    if gpu_kernel is None:
        gpu_kernel = os.environ.get(_ENVIRONMENT, '').strip() or 'reference'
        check_gpu_kernel(gpu_kernel, _ENVIRONMENT)
    return gpu_kernel


def needs_grad(*tensors: Optional[Tensor]) -> bool:
    """Whether autograd will want a gradient of any of ``tensors``."""
    return torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in tensors)


def own_path_applies(x: Tensor, weight: Tensor,
                     gpu_kernel: Optional[str] = None) -> bool:
    """Whether the columns paths compute this call: enough input channels
    per group for a matrix product to pay (fewer, as in depthwise
    convolutions, leave the products thin, where PyTorch's own grouped
    convolutions do well), on the CPU (measured faster there) or on CUDA
    where :func:`gpu_kernel_choice` says ``'columns'``."""
    if weight.shape[1] < _MIN_GROUP_CHANNELS:
        return False
    if x.device.type == 'cpu':
        return True
    return x.is_cuda and gpu_kernel_choice(gpu_kernel) == 'columns'


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


def pad_conv2d(x: Tensor, weight: Tensor, bias: Optional[Tensor],
               probs: Tensor, stride: Pair, paddings: Sequence[Pair],
               dilations: Sequence[Pair], groups: int,
               index: Optional[Tensor] = None,
               gpu_kernel: Optional[str] = None) -> Tensor:
    """PAD convolution: the output and every gradient of
    :func:`pad_conv2d_reference`, at about the cost of one convolution
    where the columns paths apply.

    ``index`` (optional, ``(N, H_out, W_out)``): the candidate of each pixel
    when the caller knows ``probs``' values to be its one-hot (argmax
    evaluation, the hard straight-through step), which saves checking
    ``probs`` and lets a path select one candidate's columns per pixel.
    ``gpu_kernel``: the layer's choice of path on CUDA (see
    :data:`GPU_KERNELS` and :func:`gpu_kernel_choice`).

    * ONNX export, tracing, compilation, a single candidate: the reference;
    * one-hot ``probs`` that need no gradient (argmax evaluation) where
      every pixel picks the same candidate: a plain convolution;
    * where :func:`own_path_applies` (the CPU; CUDA with ``'columns'``;
      16 or more input channels per group), in the dtype autocast gives a
      convolution: argmax evaluation gathers each pixel's columns at its own
      dilation, anything else (training, soft evaluation, the hard step)
      mixes or selects the candidates in the columns; one matrix product
      either way, gradients by the adjoint (:mod:`padseg.ops.fast_paths`);
    * anything else: the reference (which follows autocast by itself),
      without the candidates that no pixel uses when ``probs`` is one-hot
      and needs no gradient.
    """
    if _exporting() or probs.shape[1] == 1:
        return pad_conv2d_reference(x, weight, bias, probs, stride, paddings,
                                    dilations, groups)
    grad = needs_grad(x, weight, bias, probs)
    if index is None and not grad:
        index = one_hot_candidates(probs)
    own = own_path_applies(x, weight, gpu_kernel)
    if index is not None and not grad:
        counts = torch.bincount(index.flatten(), minlength=probs.shape[1])
        used = [k for k, count in enumerate(counts.tolist()) if count]
        if len(used) == 1:
            return F.conv2d(x, weight, bias, stride, paddings[used[0]],
                            dilations[used[0]], groups)
        if not own:
            return pad_conv2d_reference(x, weight, bias, probs[:, used],
                                        stride, [paddings[k] for k in used],
                                        [dilations[k] for k in used], groups)
        return pad_conv2d_gather(*autocast_operands(x, weight, bias), index,
                                 stride, paddings, dilations, groups)
    if not own:
        return pad_conv2d_reference(x, weight, bias, probs, stride, paddings,
                                    dilations, groups)
    return pad_conv2d_columns(*autocast_operands(x, weight, bias), probs,
                              stride, paddings, dilations, groups,
                              autograd=grad, index=index)
