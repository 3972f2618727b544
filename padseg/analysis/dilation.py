"""What dilations PAD layers choose: per-pixel maps and their statistics.

A PAD layer's hidden prior ``h_ij`` (section 3.2) fixes the law of the
dilation it draws at pixel ``(i, j)`` in training: the Gumbel-max draw
``argmax_k(h_ijk + g_ijk)`` (the one-hot limit of eq. 2, exactly the sample of
``hard=True``, and the argmax of every relaxed sample) is candidate ``k`` with
probability ``pi_ijk = softmax(h_ij)_k`` whatever the temperature. Maps and
statistics here are functions of ``pi``, computed from the priors of an
evaluation pass (see docs/analysis.md for the definitions):

* expected dilation ``E[d_ij] = sum_k pi_ijk d_k`` and the evaluation choice
  ``argmax_k h_ijk`` (what ``inference='argmax'`` uses);
* the variance ``sigma^2(d_ij)`` of the drawn dilation over images, pixels and
  draws, split by the law of total variance into its sampling part (the
  per-pixel randomness of the draw) and its spatial part (how the expected
  dilation changes with the content).

Dilations are the layer's actual (vertical) dilations, ``candidate_dilations``.
"""
from collections import OrderedDict
from contextlib import contextmanager
from typing import Dict, Iterator, Mapping, Tuple

import torch
from torch import Tensor, nn

from padseg.ops import (PADConv2d, candidate_values, expected_dilation,
                        record_dilations, selected_dilation)

__all__ = [
    'record_priors', 'dilation_law', 'law_entropy', 'dilation_maps',
    'candidate_values', 'draw_statistics', 'DilationStatistics'
]


@contextmanager
def record_priors(model: nn.Module) -> Iterator[Dict[str, Tensor]]:
    """Keep the hidden prior of every PAD layer of ``model`` inside the block.

    Yields a dict that each forward pass fills with ``{name: h}`` (``(N, D,
    H, W)``, detached, float32; the last call of each layer, in call order),
    read from what the layers record under
    :func:`~padseg.ops.record_dilations` (the one way dilations are
    recorded). The forward pass is unchanged: the prior is the one the layer
    samples from.
    """
    priors: Dict[str, Tensor] = OrderedDict()
    with record_dilations(model) as layers:
        handles = [
            layer.register_forward_hook(
                lambda module, args, output, name=name: priors.__setitem__(
                    name, module.last_prior))
            for name, layer in layers.items()
        ]
        try:
            yield priors
        finally:
            for handle in handles:
                handle.remove()


def dilation_law(prior: Tensor) -> Tensor:
    """``pi = softmax(h)`` over the candidates: the law of the draw."""
    return torch.softmax(prior.float(), dim=1)


def law_entropy(prior: Tensor) -> Tensor:
    """Entropy (nats) of each pixel's law ``pi = softmax(h)``, ``(N, H, W)``:
    ``log D`` when every candidate is equally likely, 0 when one is sure."""
    log_pi = torch.log_softmax(prior.float(), dim=1)
    return -(log_pi.exp() * log_pi).sum(dim=1)


def dilation_maps(layers: Mapping[str, PADConv2d],
                  priors: Mapping[str, Tensor]) -> Dict[str, Tuple[Tensor,
                                                                   Tensor]]:
    """Per layer the expected dilation and the evaluation choice,
    ``(N, H, W)`` each, in the order of ``priors`` (the forward order)."""
    maps = OrderedDict()
    for name, prior in priors.items():
        layer = layers[name]
        maps[name] = (expected_dilation(layer, dilation_law(prior)),
                      selected_dilation(layer, prior))
    return maps


def draw_statistics(layer: PADConv2d, probs: Tensor) -> Dict[str, float]:
    """Statistics of the dilations drawn in one training pass, from the
    samples ``probs`` (``(N, D, H, W)``, e.g. ``layer.last_probs`` under
    :func:`padseg.ops.record_dilations`): the drawn dilation at a pixel is
    the sample's argmax.

    Returns ``mean_dilation``, ``variance`` (over the pixels of the batch, a
    one-draw estimate of ``sigma^2(d_ij)``) and ``share_d<d>``, the share of
    pixels that drew each candidate.
    """
    drawn = selected_dilation(layer, probs).double()
    stats = dict(mean_dilation=drawn.mean().item(),
                 variance=drawn.var(unbiased=False).item())
    counts = torch.bincount(probs.argmax(dim=1).flatten(),
                            minlength=probs.shape[1]).double()
    for value, count in zip(candidate_values(layer), counts / counts.sum()):
        stats[f'share_d{value}'] = count.item()
    return stats


class DilationStatistics:
    """Accumulates ``sigma^2(d_ij)`` and its parts over many images.

    Every pixel of every image weighs the same. For a layer with law ``pi``
    and candidates ``d``:

    * ``mean``: ``E[d]``, the mean expected dilation;
    * ``sampling_variance``: mean over pixels of ``Var(d_ij)`` =
      ``sum_k pi_k d_k^2 - E[d_ij]^2``;
    * ``spatial_variance``: variance over pixels of ``E[d_ij]``;
    * ``variance``: ``sigma^2(d_ij)``, the variance of the drawn dilation over
      images, pixels and draws, = sampling + spatial;
    * ``selected_share``: the share of pixels whose evaluation choice is each
      candidate.

    ``summary()`` adds ``'model'``: the mean of these over the layers.

    Args:
        layers (Mapping[str, PADConv2d]): The PAD layers, by name.

    Example:
        >>> stats = DilationStatistics(dict(pad_layers(model)))
        >>> with record_priors(model) as priors, torch.no_grad():
        ...     model(x)
        ...     stats.update(priors)
        >>> stats.summary()['model']['variance']
    """

    def __init__(self, layers: Mapping[str, PADConv2d]) -> None:
        self.values = {name: candidate_values(layer)
                       for name, layer in layers.items()}
        self._sums: Dict[str, Tensor] = OrderedDict()

    def update(self, priors: Mapping[str, Tensor]) -> None:
        """Add the pixels of one forward pass (``{name: prior}``)."""
        for name, prior in priors.items():
            law = dilation_law(prior).double()
            values = torch.tensor(self.values[name], dtype=law.dtype,
                                  device=law.device).view(1, -1, 1, 1)
            mean = (law * values).sum(dim=1)
            second = (law * values**2).sum(dim=1)
            choice = torch.bincount(prior.argmax(dim=1).flatten(),
                                    minlength=len(self.values[name]))
            sums = torch.tensor(
                [float(mean.numel()), mean.sum().item(),
                 (mean**2).sum().item(), second.sum().item()] +
                choice.tolist(), dtype=torch.float64)
            if name in self._sums:
                self._sums[name] += sums
            else:
                self._sums[name] = sums

    def summary(self) -> Dict[str, dict]:
        """``{layer: stats}`` plus ``'model'`` (mean over layers)."""
        if not self._sums:
            raise RuntimeError('no PAD layer ran: nothing to summarise')
        out = OrderedDict()
        for name, sums in self._sums.items():
            count = sums[0].item()
            mean, mean_sq, second = (sums[1:4] / count).tolist()
            choices = sums[4:] / count
            out[name] = dict(
                candidates=list(self.values[name]),
                pixels=int(count),
                mean=mean,
                # float64 sums; clamp the rounding of a zero variance
                sampling_variance=max(second - mean_sq, 0.0),
                spatial_variance=max(mean_sq - mean**2, 0.0),
                variance=max(second - mean**2, 0.0),
                selected_share=choices.tolist())
        keys = ('mean', 'sampling_variance', 'spatial_variance', 'variance')
        out['model'] = {
            key: sum(layer[key] for layer in out.values()) / len(out)
            for key in keys
        }
        return out
