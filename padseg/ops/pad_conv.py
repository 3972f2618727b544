"""Pixel-wise Adaptive Dilated convolution (PAD), section 3 of the paper.

A PAD layer keeps one weight ``W`` (eq. 1) and applies it at ``D`` candidate
dilations. Per pixel ``(i, j)`` a hidden prior ``h_ij`` (section 3.2, see
:mod:`padseg.ops.aggregation`) gives the dilation distribution ``d_ij``
(eq. 2), and the output is ``sum_k d_ij[k] * (W *_{dilation_k} X)_ij + b``:

* training: ``d_ij = softmax((h_ij + g_ij) / tau)`` with Gumbel noise ``g``
  drawn in float32 (eq. 2), or its straight-through one-hot (``hard=True``);
* evaluation: no noise; ``inference='argmax'`` (default) uses one dilation per
  pixel, ``inference='soft'`` the expectation ``softmax(h_ij / tau)``.

Candidate dilations are multiples of the dilation the layer is built with, so
``dilation=2`` with ``dilations=(1, 2, 4)`` samples from 2, 4 and 8. Each
candidate gets the padding that keeps the output aligned with the base one.
"""
import os
import warnings
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.registry import MODELS
from torch import Tensor, nn

from .aggregation import PRIOR_INITS, build_aggregation
from .dispatch import (check_gpu_kernel, gpu_kernel_choice, own_path_applies,
                       pad_conv2d)
from .geometry import (Pair, candidate_dilations, candidate_paddings,
                       output_size)
from .reference import pad_conv2d_reference
from .sampling import (argmax_candidates, dilation_probabilities,
                       gumbel_softmax)

__all__ = [
    'PADConv2d', 'PADChain', 'link_pad_chain', 'gumbel_softmax',
    'dilation_probabilities', 'pad_conv2d', 'pad_conv2d_reference',
    'pad_layers'
]

def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _pair(value: Union[int, Sequence[int]], name: str) -> Pair:
    # torch's _pair takes anything; this one names a wrong argument
    if _is_int(value):
        return (value, value)
    if (isinstance(value, (tuple, list)) and len(value) == 2
            and all(_is_int(v) for v in value)):
        return (value[0], value[1])
    raise ValueError(f'{name} must be an int or a pair of ints, got {value!r}')


def _fallback_allowed() -> bool:
    """``PADSEG_KERNEL_FALLBACK``: 1 (default) lets a failing layer warn and
    run the reference; 0 raises the error (a failing path must not pass for
    a working one in tests and checks)."""
    value = os.environ.get('PADSEG_KERNEL_FALLBACK', '1').strip().lower()
    if value not in ('', '1', 'true', 'yes', '0', 'false', 'no'):
        raise ValueError(f'PADSEG_KERNEL_FALLBACK={value!r}: use 1 (a '
                         'failing PAD path warns and the layer runs the '
                         'reference) or 0 (it raises)')
    return value not in ('0', 'false', 'no')


class PADChain:
    """Hands the hidden prior ``h^{l-1}`` from one PAD layer to the next.

    :func:`link_pad_chain` gives all PAD layers of a module one chain and
    empties it before and after each forward pass of that module, so every
    pass (and every image of a batch) starts from a zero prior and nothing
    outlives the pass.
    """

    def __init__(self) -> None:
        self.prior: Optional[Tensor] = None

    def reset(self, *args) -> None:
        """Forget the prior; usable directly as a forward (pre-)hook."""
        self.prior = None


def pad_layers(module: nn.Module) -> Iterator[Tuple[str, 'PADConv2d']]:
    """``(name, layer)`` for every PAD layer inside ``module``."""
    for name, child in module.named_modules():
        if isinstance(child, PADConv2d):
            yield name, child


def link_pad_chain(module: nn.Module,
                   only_unlinked: bool = False) -> Optional[PADChain]:
    """Make the PAD layers inside ``module`` one chain (section 3.2).

    Layer ``l`` receives the prior of the PAD layer that ran before it in the
    same forward pass of ``module``; the first one starts from zero. Padseg's
    backbones call this themselves; call it on a model whose PAD layers were
    built by hand or through ``dcn=``/``conv_cfg`` (or add ``PADChainHook``).
    Calling it again replaces the earlier link.

    Args:
        module: The network whose forward pass defines the chain.
        only_unlinked: Link only PAD layers that belong to no chain yet.

    Returns:
        The chain, or None when ``module`` holds no PAD layer to link.
    """
    layers = []
    for name, layer in pad_layers(module):
        if not (only_unlinked and layer.chain is not None):
            layer.layer_name = layer.layer_name or name or None
            layers.append(layer)
    if not layers:
        return None
    for handle in getattr(module, '_pad_chain_handles', ()):
        handle.remove()
    chain = PADChain()
    for layer in layers:
        layer.chain = chain
    # Bound methods of the chain (not closures) so that deepcopy (EMA, TTA)
    # copies hooks and layers onto one new chain.
    module._pad_chain_handles = (
        module.register_forward_pre_hook(chain.reset),
        module.register_forward_hook(chain.reset))
    return chain


def _check_dilations(dilations) -> Tuple[int, ...]:
    if isinstance(dilations, (str, bytes)) or not hasattr(dilations, '__iter__'):
        raise ValueError(
            f'dilations must be a sequence of positive ints, got {dilations!r}')
    dilations = tuple(dilations)
    if not dilations:
        raise ValueError('dilations must not be empty')
    for d in dilations:
        if not isinstance(d, int) or isinstance(d, bool) or d <= 0:
            raise ValueError(
                f'dilations must be positive ints, got {d!r} in {dilations!r}')
    if len(set(dilations)) != len(dilations):
        raise ValueError(f'dilations must not repeat a value: {dilations!r}')
    return dilations


def _check_tau(tau) -> float:
    if (not isinstance(tau, (int, float)) or isinstance(tau, bool)
            or not tau > 0 or tau == float('inf')):
        raise ValueError(f'tau must be a finite number > 0, got {tau!r}')
    return float(tau)


@MODELS.register_module('PAD')
class PADConv2d(nn.Conv2d):
    """Pixel-wise Adaptive Dilated convolution, a drop-in ``nn.Conv2d``.

    Registered in MMEngine's root ``MODELS`` as ``'PAD'``, so
    ``build_conv_layer(dict(type='PAD', ...), ...)``, ``conv_cfg`` and mmseg's
    ResNet ``dcn=`` slot build it under any scope. The shared weight is stored
    as ``weight`` (eq. 1), so a plain conv's checkpoint loads into it and only
    the aggregation's parameters are reported missing.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation,
            groups, bias: As ``nn.Conv2d``. ``kernel_size`` must be odd and > 1
            in each dimension; ``padding`` may also be ``'same'``/``'valid'``.
        padding_mode (str): Only ``'zeros'`` is supported.
        dilations (Sequence[int]): Candidate dilation multipliers of
            ``dilation``, distinct positive ints. Default: ``(1, 2, 4)``.
        aggregation (str | dict): ``'markov'``, ``'recurrent'``, ``'gated'``
            or a config of a registered aggregation. Default: ``'markov'``.
        tau (float): Gumbel-softmax temperature (eq. 2), > 0. Annealed by
            :class:`padseg.engine.TauAnnealingHook`; saved in the state dict
            (``<layer>.tau``), so a checkpoint restores it. Default: 1.0.
        hard (bool): Straight-through one-hot samples in training.
            Default: False.
        inference (str): ``'argmax'`` (one dilation per pixel) or ``'soft'``
            (expectation) in evaluation. Default: ``'argmax'``.
        act_cfg (dict): The non-linearity ``f`` of the aggregation.
            Default: ``dict(type='ELU')``.
        prior_init (str): Start-up state of the hidden prior: ``'base'``
            (every pixel prefers the base dilation; in evaluation the layer
            starts as the plain conv, which protects pretrained weights),
            ``'uniform'`` (every candidate equally likely) or ``'random'``
            (PyTorch's default start of the aggregation's 1x1 kernels). See
            :mod:`padseg.ops.aggregation` and docs/pad_layer.md.
            Default: ``'base'``.
        prior_gain (float): Learning speed of the hidden prior: its weights
            are stored divided by this and multiplied back in the forward
            pass, so any optimizer (Adam: ``prior_gain`` x, SGD:
            ``prior_gain**2`` x) moves the prior faster than the network,
            without ``paramwise_cfg``; the function is the same. At 1 the
            prior of a from-scratch or fine-tuned layer hardly leaves its
            start in a short schedule; 10 won on val from scratch (Adam)
            and fine-tuning (SGD) (docs/pad_layer.md, study 6). None: the
            aggregation's own default, 10 for Markov, Recurrent and Gated
            (an aggregation of one's own need not take a gain).
            Default: None.
        gpu_kernel (str, optional): What computes the layer on CUDA:
            ``'reference'`` (one cuDNN convolution per candidate) or
            ``'columns'`` (the candidates mixed in the im2col columns, one
            cuBLAS product; :mod:`padseg.ops.fast_paths`). None follows the
            environment variable ``PADSEG_GPU_KERNEL`` (unset: the
            reference, the fastest measured so far; docs/benchmarks.md).
            No effect on the CPU, where the columns paths always run.
            Default: None.

    Example:
        >>> import torch
        >>> from padseg.ops import PADConv2d
        >>> layer = PADConv2d(8, 16, 3, padding=1, dilations=(1, 2, 4))
        >>> layer(torch.rand(2, 8, 32, 32)).shape
        torch.Size([2, 16, 32, 32])
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: Union[int, Pair],
                 stride: Union[int, Pair] = 1,
                 padding: Union[int, Pair, str] = 0,
                 dilation: Union[int, Pair] = 1,
                 groups: int = 1,
                 bias: bool = True,
                 padding_mode: str = 'zeros',
                 dilations: Sequence[int] = (1, 2, 4),
                 aggregation: Union[str, dict] = 'markov',
                 tau: float = 1.0,
                 hard: bool = False,
                 inference: str = 'argmax',
                 act_cfg: dict = dict(type='ELU'),
                 prior_init: str = 'base',
                 prior_gain: Optional[float] = None,
                 gpu_kernel: Optional[str] = None,
                 device=None,
                 dtype=None) -> None:
        kernel_size = _pair(kernel_size, 'kernel_size')
        if any(k < 3 or k % 2 == 0 for k in kernel_size):
            raise ValueError(
                'kernel_size must be odd and at least 3 for PAD (an even '
                'kernel cannot keep the candidates aligned, a 1x1 kernel has '
                f'nothing to dilate), got {kernel_size}')
        dilation = _pair(dilation, 'dilation')
        stride = _pair(stride, 'stride')
        for name, value in (('in_channels', in_channels),
                            ('out_channels', out_channels),
                            ('groups', groups)):
            if not _is_int(value) or value <= 0:
                raise ValueError(f'{name} must be a positive int, got {value!r}')
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f'groups={groups} must divide in_channels={in_channels} and '
                f'out_channels={out_channels}')
        for name, pair in (('stride', stride), ('dilation', dilation)):
            if min(pair) <= 0:
                raise ValueError(f'{name} must be positive, got {pair}')
        if not isinstance(bias, bool):
            raise ValueError(f'bias must be a bool, got {bias!r}')
        if padding == 'same':
            if stride != (1, 1):
                raise ValueError("padding='same' needs stride 1")
            padding = tuple(d * (k - 1) // 2
                            for d, k in zip(dilation, kernel_size))
        elif padding == 'valid':
            padding = (0, 0)
        padding = _pair(padding, 'padding')
        if min(padding) < 0:
            raise ValueError(f'padding must be >= 0, got {padding}')
        if padding_mode != 'zeros':
            raise ValueError(
                f"padding_mode must be 'zeros' for PAD, got {padding_mode!r}")
        if inference not in ('argmax', 'soft'):
            raise ValueError(
                f"inference must be 'argmax' or 'soft', got {inference!r}")
        if not isinstance(hard, bool):
            raise ValueError(f'hard must be a bool, got {hard!r}')
        if prior_init not in PRIOR_INITS:
            raise ValueError(f'prior_init must be one of {PRIOR_INITS}, got '
                             f'{prior_init!r}')
        check_gpu_kernel(gpu_kernel)
        gpu_kernel_choice(gpu_kernel)  # a bad PADSEG_GPU_KERNEL, named now
        self.dilations = _check_dilations(dilations)
        super().__init__(in_channels, out_channels, kernel_size, stride,
                         padding, dilation, groups, bias, padding_mode,
                         device, dtype)
        self.tau = _check_tau(tau)
        self.hard = hard
        self.gpu_kernel = gpu_kernel
        #: Why this layer's own path failed (then it runs the reference).
        self.kernel_failure: Optional[str] = None
        #: The layer's name in its model, for messages (set by
        #: :func:`link_pad_chain`).
        self.layer_name: Optional[str] = None
        self.inference = inference
        base = 1 if 1 in self.dilations else min(self.dilations)
        self.base_index = self.dilations.index(base)
        self.aggregation = build_aggregation(aggregation, in_channels,
                                             len(self.dilations),
                                             self.base_index, act_cfg,
                                             prior_init, prior_gain)
        self.chain: Optional[PADChain] = None
        # Analysis and logging: counts the open padseg.ops.record_dilations
        # blocks; none by default, so no tensor outlives the forward pass.
        self.recording = 0
        self.last_prior: Optional[Tensor] = None
        self.last_probs: Optional[Tensor] = None
        self.last_prior_grad: Optional[Tensor] = None
        self._warned_unlinked = False

    @property
    def candidate_dilations(self) -> List[Pair]:
        """Actual ``(dh, dw)`` of each candidate."""
        return candidate_dilations(self.dilation, self.dilations)

    @property
    def candidate_paddings(self) -> List[Pair]:
        """Padding of each candidate: same output size and centres as the base."""
        return candidate_paddings(self.kernel_size, self.padding,
                                  self.dilation, self.candidate_dilations)

    # The temperature travels with the weights, so that a checkpoint's
    # evaluation (tools/test.py, init_model, soft inference) uses the annealed
    # value. It is a plain float for the forward pass (no tensor to read
    # back from a GPU) and a tensor under ``<layer>.tau`` only in state dicts;
    # a state dict without it (older checkpoints, plain convs) leaves tau as
    # it is and is reported neither missing nor unexpected.
    def _save_to_state_dict(self, destination, prefix, keep_vars) -> None:
        super()._save_to_state_dict(destination, prefix, keep_vars)
        destination[prefix + 'tau'] = torch.tensor(self.tau)

    def _load_from_state_dict(self, state_dict, prefix, *args,
                              **kwargs) -> None:
        tau = state_dict.pop(prefix + 'tau', None)
        if tau is not None:
            self.tau = _check_tau(float(tau))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return (super().extra_repr() + f', dilations={self.dilations}, '
                f'tau={self.tau}, hard={self.hard}, '
                f'inference={self.inference!r}')

    def init_weights(self) -> None:
        """Reset the aggregation to its start-up state (base dilation
        preferred). The shared ``weight`` is left to the caller's init."""
        self.aggregation.init_weights()

    def output_size(self, x: Tensor) -> Pair:
        return output_size(tuple(x.shape[-2:]), self.kernel_size,
                           self.stride, self.padding, self.dilation)

    def _centre_samples(self, x: Tensor, out_size: Pair) -> Tensor:
        """``Y^{l-1}`` at the centre of each output pixel's window, so the
        prior lives on the output grid (also for stride 2)."""
        starts = [d * (k - 1) // 2 - p for d, k, p in
                  zip(self.dilation, self.kernel_size, self.padding)]
        if min(starts) < 0:  # padding wider than the half window
            ph, pw = (max(0, -s) for s in starts)
            x = F.pad(x, (pw, pw, ph, ph))
            starts = [max(0, s) for s in starts]
        (sh, sw), (ho, wo) = self.stride, out_size
        return x[:, :, starts[0]::sh, starts[1]::sw][:, :, :ho, :wo]

    def _previous_prior(self, out_size: Pair) -> Optional[Tensor]:
        if not self.aggregation.uses_previous_prior:
            return None
        if self.chain is None:
            if not self._warned_unlinked:
                warnings.warn(
                    f'A PAD layer with {type(self.aggregation).__name__} is '
                    'not linked to a chain, so it starts from a zero prior on '
                    'every call. Call padseg.ops.link_pad_chain(model) or add '
                    "custom_hooks=[dict(type='PADChainHook')].")
                self._warned_unlinked = True
            return None
        prev = self.chain.prior
        if prev is None:
            return None
        if prev.shape[1] != len(self.dilations):
            raise ValueError(
                f'PAD chain: the previous PAD layer has {prev.shape[1]} '
                f'candidate dilations, this one {len(self.dilations)}; layers '
                'of one chain must have the same number of candidates')
        if tuple(prev.shape[-2:]) != tuple(out_size):
            prev = F.interpolate(prev, size=out_size, mode='bilinear',
                                 align_corners=False)
        return prev

    def hidden_prior(self, x: Tensor) -> Tensor:
        """``h^l`` on the output grid, ``(N, D, H_out, W_out)``."""
        out_size = self.output_size(x)
        prior = self.aggregation(self._centre_samples(x, out_size),
                                 self._previous_prior(out_size))
        if self.chain is not None:
            self.chain.prior = prior
        return prior

    def _keep_prior_grad(self, grad: Tensor) -> None:
        if self.recording:
            self.last_prior_grad = grad.detach().float()

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'PADConv2d expects input (N, {self.in_channels}, H, W), '
                f'got {tuple(x.shape)}')
        prior = self.hidden_prior(x)
        probs = dilation_probabilities(prior, self.tau, self.training,
                                       self.hard, self.inference)
        index = None
        if self.hard if self.training else self.inference == 'argmax':
            # one-hot values: the dispatcher skips a check, and the paths
            # select each pixel's candidate instead of mixing all of them
            index = argmax_candidates(probs)
        if self.recording:
            self.last_prior = prior.detach().float()
            self.last_probs = probs.detach()
            if prior.requires_grad:  # dL/dh, once backward reaches it
                prior.register_hook(self._keep_prior_grad)
        return self._convolve(x, probs, index)

    def _convolve(self, x: Tensor, probs: Tensor,
                  index: Optional[Tensor]) -> Tensor:
        """:func:`pad_conv2d` on this layer's path. If a path of padseg's own
        (not the reference) fails in the forward pass, this layer, and only
        this one, says so once, naming itself and the error, and runs the
        reference from then on (``kernel_failure``); with
        ``PADSEG_KERNEL_FALLBACK=0`` (the tests, the GPU check) the error is
        raised."""
        args = (x, self.weight, self.bias, probs, self.stride,
                self.candidate_paddings, self.candidate_dilations,
                self.groups)
        if self.kernel_failure is not None:
            return pad_conv2d_reference(*args)
        if not (own_path_applies(x, self.weight, self.gpu_kernel)
                and _fallback_allowed()):
            return pad_conv2d(*args, index=index, gpu_kernel=self.gpu_kernel)
        try:
            return pad_conv2d(*args, index=index, gpu_kernel=self.gpu_kernel)
        except torch.cuda.OutOfMemoryError:
            raise  # the reference needs more memory, not less
        except Exception as error:  # a path that fails on this device
            self.kernel_failure = f'{type(error).__name__}: {error}'
        warnings.warn(
            f'padseg: PAD layer {self.layer_name or self.extra_repr()}: its '
            f'columns path failed ({self.kernel_failure[:300]}); this layer '
            'runs the reference (one convolution per candidate) from now on. '
            'PADSEG_KERNEL_FALLBACK=0 raises such errors instead.')
        return pad_conv2d_reference(*args)
