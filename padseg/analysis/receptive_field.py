"""Receptive fields of a layer's output unit, for any network (figure 3).

* Theoretical RF: the input pixels an output unit depends on once every PAD
  layer is frozen to the dilations it used on a given image. Computed as the
  support of the gradient in a positive copy of the network: convolutions get
  positive weights and no bias, normalisation layers become identities (the
  RF of normalisation statistics is ignored, as usual), max pools become
  average pools of the same window, PAD layers keep the per-pixel dilation
  weights they had on the image, and the input is a small positive constant.
  Every activation is then positive, so no ReLU, max or sign cancellation can
  hide a path: a gradient is non-zero exactly where a path of windows exists.
  This works on any module graph (residuals, concatenations, heads) without
  an analytic description of it. Pools called as functions
  (``F.max_pool2d``) are left as they are.
* Effective RF (Luo et al., 2016): the magnitude of the gradient of the output
  unit (summed over channels) with respect to the network input, summed over
  the input channels and averaged over images, in the real network (eval).
"""
import copy
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from padseg.ops import PADConv2d, pad_conv2d_reference, record_dilations
from .data import run_model

__all__ = [
    'layer_output', 'theoretical_receptive_field',
    'effective_receptive_field', 'receptive_field_extent', 'erf_centre',
    'erf_radius', 'centre_unit'
]

Unit = Tuple[int, int]
NORMS = (_BatchNorm, _InstanceNorm, nn.GroupNorm, nn.LayerNorm)
#: Input value of the positive copy: small, so that no activation reaches a
#: saturating range (ReLU6, hard sigmoid) however many residual sums add up.
POSITIVE_INPUT = 1e-3


class _Reached(Exception):
    """Stops the forward pass once the analysed layer has run."""


def layer_output(model: nn.Module, inputs: Tensor, layer: str) -> Tensor:
    """The output of module ``layer`` (a name in ``model.named_modules()``;
    ``''`` is the whole model) when ``model`` runs on ``inputs``.

    The pass stops right after that module (the rest of the network is not
    needed). A module returning a tuple or list (a backbone) gives its last
    tensor. The first call of the module counts.
    """
    try:
        module = model.get_submodule(layer)
    except AttributeError:
        raise ValueError(f'layer {layer!r} is not a module of '
                         f'{type(model).__name__}') from None
    captured = []

    def catch(mod, args, output):
        captured.append(output)
        raise _Reached

    handle = module.register_forward_hook(catch)
    try:
        run_model(model, inputs)
    except _Reached:
        pass
    finally:
        handle.remove()
    if not captured:
        raise RuntimeError(f'layer {layer!r} did not run in the forward pass')
    output = captured[0]
    if isinstance(output, (tuple, list)):
        output = output[-1]
    if not isinstance(output, Tensor) or output.dim() != 4:
        raise ValueError(f'layer {layer!r} must output an (N, C, H, W) map '
                         f'(or a tuple ending with one), got {type(output)}')
    return output


def centre_unit(output: Tensor) -> Unit:
    """The centre unit ``(y, x)`` of an ``(N, C, H, W)`` map."""
    return output.shape[-2] // 2, output.shape[-1] // 2


def _unit_response(output: Tensor, unit: Optional[Unit]) -> Tensor:
    y, x = centre_unit(output) if unit is None else unit
    if not (0 <= y < output.shape[-2] and 0 <= x < output.shape[-1]):
        raise ValueError(f'unit {(y, x)} is outside the layer output '
                         f'{tuple(output.shape[-2:])}')
    return output[:, :, y, x].sum()


class _FrozenDilations(nn.Module):
    """A PAD layer applying fixed per-pixel dilation weights (no prior)."""

    def __init__(self, layer: PADConv2d, probs: Tensor) -> None:
        super().__init__()
        self.layer = layer
        self.register_buffer('probs', probs)

    def forward(self, x: Tensor) -> Tensor:
        layer = self.layer
        return pad_conv2d_reference(x, layer.weight, None,
                                    self.probs.to(x.dtype), layer.stride,
                                    layer.candidate_paddings,
                                    layer.candidate_dilations, layer.groups)


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition('.')
    setattr(model.get_submodule(parent), child, new)


def _positive_copy(model: nn.Module,
                   dilation_probs: Dict[str, Tensor]) -> nn.Module:
    """The copy described in the module docstring, in float64."""
    positive = copy.deepcopy(model).double().eval()
    replacements = {}
    for name, module in positive.named_modules():
        if any(name.startswith(done + '.') for done in replacements):
            continue
        if isinstance(module, PADConv2d) and name in dilation_probs:
            replacements[name] = _FrozenDilations(
                module, dilation_probs[name].double())
        elif isinstance(module, NORMS):
            replacements[name] = nn.Identity()
        elif isinstance(module, nn.MaxPool2d):
            if module.dilation not in (1, (1, 1)):
                raise ValueError(f'{name}: a dilated max pool has no average '
                                 'pool of the same window')
            replacements[name] = nn.AvgPool2d(module.kernel_size,
                                              module.stride, module.padding,
                                              module.ceil_mode)
        elif isinstance(module, nn.AdaptiveMaxPool2d):
            replacements[name] = nn.AdaptiveAvgPool2d(module.output_size)
    for name, new in replacements.items():
        _replace(positive, name, new)
    with torch.no_grad():
        for module in positive.modules():
            if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)):
                module.weight.fill_(1.0 / module.weight[0].numel())
                if module.bias is not None:
                    module.bias.zero_()
    return positive


def theoretical_receptive_field(model: nn.Module,
                                inputs: Tensor,
                                layer: str,
                                unit: Optional[Unit] = None) -> Tensor:
    """Input pixels that output ``unit`` of ``layer`` depends on.

    Args:
        model (nn.Module): The network (any; PAD layers found by type).
        inputs (Tensor): One network input, ``(1, C, H, W)``; it decides
            which dilations the PAD layers use.
        layer (str): Module name, see :func:`layer_output`.
        unit (tuple[int, int], optional): ``(y, x)`` in the layer output;
            its centre by default.

    Returns:
        Tensor: ``(H, W)`` bool mask over the input.
    """
    if inputs.shape[0] != 1:
        raise ValueError('theoretical_receptive_field takes one image '
                         f'(batch 1), got a batch of {inputs.shape[0]}')
    was_training = model.training
    model.eval()
    try:
        with record_dilations(model) as layers, torch.no_grad():
            layer_output(model, inputs, layer)
            probs = {name: pad.last_probs for name, pad in layers.items()
                     if pad.last_probs is not None}
    finally:
        model.train(was_training)
    positive = _positive_copy(model, probs)
    x = torch.full(inputs.shape, POSITIVE_INPUT, dtype=torch.float64,
                   device=inputs.device, requires_grad=True)
    response = _unit_response(layer_output(positive, x, layer), unit)
    grad, = torch.autograd.grad(response, x)
    return grad.abs().sum(dim=(0, 1)) > 0


def effective_receptive_field(model: nn.Module,
                              inputs: Sequence[Tensor],
                              layer: str,
                              unit: Optional[Unit] = None) -> Tensor:
    """Luo et al.'s ERF: ``|d y_unit / d x|`` averaged over ``inputs``.

    Args:
        model (nn.Module): The network, run in eval mode.
        inputs (Sequence[Tensor]): Network inputs ``(1, C, H, W)`` of one
            size (one per image).
        layer (str): Module name, see :func:`layer_output`.
        unit (tuple[int, int], optional): ``(y, x)`` in the layer output;
            its centre by default. ``y_unit`` is the sum of its channels.

    Returns:
        Tensor: ``(H, W)`` float map, summed over input channels.
    """
    if not inputs:
        raise ValueError('effective_receptive_field needs at least one input')
    size = tuple(inputs[0].shape[-2:])
    was_training = model.training
    model.eval()
    total = None
    try:
        for x in inputs:
            if tuple(x.shape[-2:]) != size:
                raise ValueError('all inputs must have one size, got '
                                 f'{size} and {tuple(x.shape[-2:])}')
            x = x.detach().clone().requires_grad_(True)
            response = _unit_response(layer_output(model, x, layer), unit)
            grad, = torch.autograd.grad(response, x)
            magnitude = grad.abs().sum(dim=(0, 1))
            total = magnitude if total is None else total + magnitude
    finally:
        model.train(was_training)
    return total / len(inputs)


def receptive_field_extent(mask: Tensor) -> Dict[str, int]:
    """Area (pixels) and bounding box ``height``, ``width`` of a RF mask."""
    ys, xs = torch.nonzero(mask, as_tuple=True)
    if ys.numel() == 0:
        return dict(area=0, height=0, width=0)
    return dict(area=int(ys.numel()),
                height=int(ys.max() - ys.min() + 1),
                width=int(xs.max() - xs.min() + 1))


def _grid(shape) -> Tuple[Tensor, Tensor]:
    ys, xs = torch.meshgrid(torch.arange(shape[0], dtype=torch.float64),
                            torch.arange(shape[1], dtype=torch.float64),
                            indexing='ij')
    return ys.flatten(), xs.flatten()


def erf_centre(erf: Tensor) -> Tuple[float, float]:
    """Centre of mass ``(y, x)`` of an ERF map, in pixels."""
    weights = erf.double().flatten()
    total = weights.sum()
    if total <= 0:
        raise ValueError('the ERF is zero everywhere')
    ys, xs = _grid(erf.shape)
    return ((weights * ys).sum() / total).item(), (
        (weights * xs).sum() / total).item()


def erf_radius(erf: Tensor, mass: float) -> float:
    """Radius (pixels) of the smallest disc around the ERF's centre of mass
    that holds the fraction ``mass`` (0-1] of its total magnitude."""
    if not 0 < mass <= 1:
        raise ValueError(f'mass must be in (0, 1], got {mass}')
    cy, cx = erf_centre(erf)
    ys, xs = _grid(erf.shape)
    distance = torch.sqrt((ys - cy)**2 + (xs - cx)**2)
    order = torch.argsort(distance)
    weights = erf.double().flatten()[order]
    cumulative = torch.cumsum(weights, 0) / weights.sum()
    # the first pixel at which the disc reaches the mass (rounding-tolerant)
    index = int(torch.searchsorted(
        cumulative, torch.tensor([mass - 1e-12], dtype=torch.float64)))
    return float(distance[order][min(index, len(order) - 1)])
