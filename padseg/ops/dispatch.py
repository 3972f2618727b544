"""Which path computes a PAD convolution: the one place that decides.

:func:`pad_conv2d` is what :class:`~padseg.ops.PADConv2d` calls. Reading it
top to bottom gives every path and the test that selects it; the paths
themselves are :func:`~padseg.ops.reference.pad_conv2d_reference` (the
definition), the CPU paths of :mod:`padseg.ops.fast_paths`, the Triton
kernels of :mod:`padseg.ops.triton_pad` and the dominant-candidate argmax of
:mod:`padseg.ops.dominant`. The Triton module is imported only when a call
asks for it (it needs triton); it reports failures through the callback this
module hands it, so the two never import each other.
"""
import functools
import os
import warnings
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .dominant import pad_conv2d_dominant
from .fast_paths import pad_conv2d_columns, pad_conv2d_gather
from .reference import Pair, autocast_operands, pad_conv2d_reference

try:  # torch >= 2.3
    from torch.compiler import is_compiling as _is_compiling
except ImportError:
    from torch._dynamo import is_compiling as _is_compiling

__all__ = [
    'pad_conv2d', 'needs_grad', 'one_hot_candidates', 'fast_paths_apply',
    'triton_wanted', 'GPU_KERNELS'
]

#: Values of a PAD layer's ``gpu_kernel`` (None: ``PADSEG_TRITON`` decides).
GPU_KERNELS = (None, 'reference', 'triton', 'dominant')
#: What the Triton kernels take; anything else runs the reference.
_TRITON_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
#: Set when the Triton kernels failed here: the reason, warned once.
_triton_broken = {}
_BOOLEAN_WORDS = {'1': True, 'true': True, 'yes': True, '0': False,
                  'false': False, 'no': False}

#: Fewer input channels per group than this (depthwise convolutions) make
#: matrix products too thin to beat PyTorch's own grouped convolutions.
_MIN_GROUP_CHANNELS = 16


def needs_grad(*tensors: Optional[Tensor]) -> bool:
    """Whether autograd will want a gradient of any of ``tensors``."""
    return torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in tensors)


def _environment_flag(name: str, default: bool, meaning: str) -> bool:
    value = os.environ.get(name, '').strip().lower()
    if not value:
        return default
    if value not in _BOOLEAN_WORDS:
        raise ValueError(f'{name}={value!r}: use 1 or 0 ({meaning})')
    return _BOOLEAN_WORDS[value]


def fast_paths_apply(x: Tensor, weight: Tensor) -> bool:
    """Whether the CPU paths of :mod:`.fast_paths` are worth it: on the CPU,
    where they were measured (they compute the same on any device), with
    enough channels per group."""
    return x.device.type == 'cpu' and _matrix_sized(weight)


def _matrix_sized(weight: Tensor) -> bool:
    """Enough input channels per group for a matrix product to pay: fewer
    (depthwise) leave the tiles of a GPU kernel or a CPU product mostly
    empty, where PyTorch's own grouped convolutions do well."""
    return weight.shape[1] >= _MIN_GROUP_CHANNELS


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
        wanted = _environment_flag(
            'PADSEG_TRITON', False, '1: the Triton PAD kernels on CUDA; 0: '
            'the reference, the default')
    else:
        wanted = gpu_kernel == 'triton'
    if wanted:
        _fallback_allowed()  # a misspelt setting is named before any failure
    return wanted


def _fallback_allowed() -> bool:
    return _environment_flag('PADSEG_KERNEL_FALLBACK', True,
                             '1: a failing kernel warns once and the '
                             'reference takes over; 0: it raises')


def triton_failed(error: BaseException) -> None:
    """Use the reference from now on, and say why once; or, with
    ``PADSEG_KERNEL_FALLBACK=0`` (the tests, ``benchmarks/gpu_check.py``),
    raise the error: a failing kernel must not pass for a working one."""
    if not _fallback_allowed():
        raise error
    if not _triton_broken:
        _triton_broken['reason'] = f'{type(error).__name__}: {error}'
        warnings.warn(
            'padseg: the Triton PAD kernels failed on this GPU '
            f'({_triton_broken["reason"][:300]}); PAD layers use the '
            'reference (one cuDNN convolution per candidate) from now on.')


def _reference_gradients(geometry, error, grad_out, x, weight, has_bias,
                         probs, needs):
    """The Triton backward's fallback: the gradients asked for (``needs``:
    input, weight, bias, probs) through the reference's autograd;
    ``geometry``: its stride, paddings, dilations and groups."""
    triton_failed(error)
    inputs = [x.detach().requires_grad_(), weight.detach().requires_grad_(),
              probs.detach().requires_grad_()]
    bias = (torch.zeros(weight.shape[0], dtype=weight.dtype,
                        device=x.device, requires_grad=True)
            if has_bias else None)
    with torch.enable_grad():
        out = pad_conv2d_reference(inputs[0], inputs[1], bias, inputs[2],
                                   *geometry)
        wanted = inputs + ([bias] if bias is not None else [])
        grads = list(torch.autograd.grad(out, wanted, grad_out.to(out.dtype)))
    grad_x, grad_w, grad_p = grads[:3]
    grad_b = grads[3] if bias is not None else None
    return tuple(g if need else None for g, need in
                 zip((grad_x, grad_w, grad_b, grad_p), needs))


def _triton(x, weight, bias, probs, stride, paddings, dilations, groups,
            index) -> Optional[Tensor]:
    """The Triton kernels' result, or None when they cannot run here."""
    try:
        from . import triton_pad
        if index is not None:
            return triton_pad.pad_conv2d_triton_argmax(
                x, weight, bias, index, stride, paddings, dilations, groups)
        on_error = functools.partial(_reference_gradients,
                                     (stride, paddings, dilations, groups))
        return triton_pad.pad_conv2d_triton(x, weight, bias, probs, stride,
                                            paddings, dilations, groups,
                                            on_error)
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
    kernel on CUDA (see :data:`GPU_KERNELS` and :func:`triton_wanted`).

    * ONNX export, tracing, compilation, a single candidate: the reference;
    * CUDA with the Triton kernels asked for (:func:`triton_wanted`), at
      16 or more input channels per group: :mod:`padseg.ops.triton_pad` (argmax evaluation without a host
      synchronisation); if they fail to compile or run, one warning and the
      reference from then on (``PADSEG_KERNEL_FALLBACK=0``: the error);
    * CUDA argmax evaluation with ``gpu_kernel='dominant'``: the dominant
      candidate's convolution and a gather for the other pixels
      (:mod:`padseg.ops.dominant`);
    * one-hot ``probs`` that need no gradient (argmax evaluation) where
      every pixel picks the same candidate: a plain convolution;
    * convolutions with few channels per group (depthwise), where a matrix
      product gains nothing over PyTorch's own kernels, and devices other
      than the CPU: the reference, without the candidates that no pixel
      uses when ``probs`` is one-hot and needs no gradient;
    * the CPU: argmax evaluation gathers each pixel's columns at its own
      dilation, anything else (training, soft evaluation) mixes the
      candidates in the im2col columns; one matrix product either way,
      gradients by the adjoint (:mod:`padseg.ops.fast_paths`).
    """
    if _exporting() or probs.shape[1] == 1:
        return pad_conv2d_reference(x, weight, bias, probs, stride, paddings,
                                    dilations, groups)
    grad = needs_grad(x, weight, bias, probs)
    if grad:
        index = None
    elif index is None:
        index = one_hot_candidates(probs)
    if triton_wanted(x, gpu_kernel) and _matrix_sized(weight):
        out = _triton(x, weight, bias, probs, stride, paddings, dilations,
                      groups, index)
        if out is not None:
            return out
    elif index is not None and gpu_kernel == 'dominant' and _on_gpu(x):
        return pad_conv2d_dominant(x, weight, bias, index, stride, paddings,
                                   dilations, groups)
    if index is not None:
        counts = torch.bincount(index.flatten(), minlength=probs.shape[1])
        used = [k for k, count in enumerate(counts.tolist()) if count]
        if len(used) == 1:
            return F.conv2d(x, weight, bias, stride, paddings[used[0]],
                            dilations[used[0]], groups)
    if not fast_paths_apply(x, weight):
        if index is not None:
            probs, paddings, dilations = (probs[:, used],
                                          [paddings[k] for k in used],
                                          [dilations[k] for k in used])
        return pad_conv2d_reference(x, weight, bias, probs, stride, paddings,
                                    dilations, groups)
    x, weight, bias = autocast_operands(x, weight, bias)
    if index is not None:
        return pad_conv2d_gather(x, weight, bias, index, stride, paddings,
                                 dilations, groups)
    return pad_conv2d_columns(x, weight, bias, probs, stride, paddings,
                              dilations, groups, autograd=grad)
