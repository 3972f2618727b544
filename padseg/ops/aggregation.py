"""Hidden-prior aggregations of PAD-Nets (section 3.2 of the paper).

Each aggregation turns the layer input ``Y^{l-1}`` (sampled at the output
positions) and the previous PAD layer's prior ``h^{l-1}`` into this layer's
prior ``h^l`` with ``D`` channels, one per candidate dilation:

* :class:`MarkovAggregation`:    ``h^l = f(U_h Y^{l-1})``  (eq. 3 with ``W_h = 0``)
* :class:`RecurrentAggregation`: ``h^l = f(W_h h^{l-1} + U_h Y^{l-1})``  (eq. 3)
* :class:`GatedAggregation`:     ``a = sigmoid(W_a h^{l-1} + U_a Y^{l-1})``,
  ``h^l = f(a * W_h h^{l-1} + (1 - a) * U_h Y^{l-1})``  (eqs. 4-5)

``U`` and ``W`` are 1x1 kernels, stored as plain parameters (not ``nn.Conv2d``
modules) so that a parent's ``init_cfg`` such as ``Kaiming(layer='Conv2d')``
never overwrites their start-up values.

Initialisation (``prior_init``): with ``'base'`` (the default) every weight
starts at zero and the bias of ``U_h`` favours the base candidate
(``base_index``), so at start-up every pixel prefers the layer's own dilation
and, in evaluation, the layer equals the plain convolution it replaces (mmcv
SAC's lesson: it protects pretrained weights). ``'uniform'`` starts every
weight and bias at zero: every candidate is equally likely and the Gumbel
noise alone chooses at first. ``'random'`` gives every weight and bias
PyTorch's default start of a 1x1 convolution (uniform in
``+-1/sqrt(fan_in)``), so the prior varies with the input from the first
step. ``f`` is ELU by default: smooth, with a
gradient everywhere, bounded below by -1 and unbounded above, so a pixel can
become as sure of its dilation as training makes it (a bounded ``f`` such as
``tanh`` would cap the probability of the preferred candidate, e.g. at 0.79
for three candidates, at every temperature). Any mmcv activation can be
chosen with ``act_cfg``.

Learning speed (``gain``): every weight and bias is stored divided by
``gain`` and multiplied by it in the forward pass. The function and its
start-up state are the same for any gain; a step of the optimizer moves the
prior ``gain`` times as far under Adam (whose step ignores the gradient's
scale, so a gradient multiplier would change nothing there) and ``gain**2``
times under SGD, with no ``paramwise_cfg``. Checkpoints carry the gain
(``<aggregation>.gain``) and load into a layer of another gain as the same
function; one without it was saved at gain 1.

A fourth aggregation is a module registered in MMEngine's root ``MODELS`` with
the constructor ``(in_channels, num_candidates, base_index, act_cfg)``, a
``forward(y, prev_prior)`` returning the prior, and a class attribute
``uses_previous_prior``.
"""
import math
from typing import Optional, Union

import torch
from mmcv.cnn import build_activation_layer
from mmengine.registry import MODELS
from torch import Tensor, nn

__all__ = [
    'MarkovAggregation', 'RecurrentAggregation', 'GatedAggregation',
    'build_aggregation', 'PRIOR_INITS', 'DEFAULT_GAIN', 'check_gain'
]

#: Start-up states of the hidden prior (see the module docstring).
PRIOR_INITS = ('base', 'uniform', 'random')

#: Learning speed of the prior's weights when a layer names none: 10 won on
#: val from scratch (Adam) and fine-tuning (SGD), docs/pad_layer.md study 6.
DEFAULT_GAIN = 10.0

#: Start-up bias of the base candidate in ``U_h``: with ELU, ``h = (3, 0, 0)``
#: draws the base dilation with probability ``e^3 / (e^3 + 2) = 0.91``.
BASE_PRIOR_BIAS = 3.0


def conv1x1(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None) -> Tensor:
    """1x1 convolution with a ``(out, in)`` weight matrix, as one matrix
    product per image: with the few output channels of a prior that is
    several times faster on the CPU than ``F.conv2d`` (oneDNN), whose
    threads gain nothing on so little work."""
    n, c, h, w = x.shape
    out = torch.bmm(weight.expand(n, *weight.shape), x.reshape(n, c, h * w))
    if bias is not None:  # not baddbmm: MMEngine's FLOP counter skips it
        out = out + bias.to(out.dtype)[:, None]  # autocast's dtype, as conv
    return out.view(n, -1, h, w)


class MarkovAggregation(nn.Module):
    """``h^l = f(U_h Y^{l-1})``: the prior depends on this layer's input only.

    Args:
        in_channels (int): Channels of ``Y^{l-1}``, the PAD layer's input.
        num_candidates (int): ``D``, the number of candidate dilations.
        base_index (int): Candidate favoured at start-up. Default: 0.
        act_cfg (dict): The non-linearity ``f``. Default: ``dict(type='ELU')``.
        prior_init (str): Start-up state of the prior, one of
            :data:`PRIOR_INITS`. Default: ``'base'``.
        gain (float): Learning speed of the prior's weights (see the module
            docstring), > 0. Default: :data:`DEFAULT_GAIN` (10).
    """

    uses_previous_prior = False

    def __init__(self,
                 in_channels: int,
                 num_candidates: int,
                 base_index: int = 0,
                 act_cfg: dict = dict(type='ELU'),
                 prior_init: str = 'base',
                 gain: Optional[float] = None) -> None:
        super().__init__()
        if prior_init not in PRIOR_INITS:
            raise ValueError(f'prior_init must be one of {PRIOR_INITS}, got '
                             f'{prior_init!r}')
        self.gain = check_gain(DEFAULT_GAIN if gain is None else gain)
        self.in_channels = in_channels
        self.num_candidates = num_candidates
        self.base_index = base_index
        self.prior_init = prior_init
        self.u_h = nn.Parameter(torch.empty(num_candidates, in_channels))
        self.u_h_bias = nn.Parameter(torch.empty(num_candidates))
        self.act = build_activation_layer(act_cfg)
        self.add_weights()
        self.init_weights()

    def add_weights(self) -> None:
        """Create the parameters a subclass adds to ``U_h``."""

    def init_weights(self) -> None:
        """The start-up state ``prior_init`` for every weight and bias (those
        that subclasses add too)."""
        weights = dict(self.named_parameters())
        with torch.no_grad():
            for name, param in weights.items():
                if self.prior_init != 'random':
                    param.zero_()
                    continue
                # a bias takes the fan-in of its weight, as nn.Conv2d's
                fan_in = weights[name[:-len('_bias')]].shape[1] if \
                    name.endswith('_bias') else param.shape[1]
                bound = 1 / math.sqrt(fan_in)
                param.uniform_(-bound / self.gain, bound / self.gain)
            if self.prior_init == 'base':
                self.u_h_bias[self.base_index] = BASE_PRIOR_BIAS / self.gain

    def scaled(self, param: Tensor) -> Tensor:
        """A weight as the equations use it: the stored one times ``gain``."""
        return param * self.gain if self.gain != 1.0 else param

    def _save_to_state_dict(self, destination, prefix, keep_vars) -> None:
        super()._save_to_state_dict(destination, prefix, keep_vars)
        destination[prefix + 'gain'] = torch.tensor(self.gain)

    def _load_from_state_dict(self, state_dict, prefix, *args,
                              **kwargs) -> None:
        # the stored weights of a checkpoint saved at another gain (one
        # without ``gain`` was saved at 1) are rescaled to the same function
        saved = state_dict.pop(prefix + 'gain', None)
        saved = 1.0 if saved is None else check_gain(float(saved))
        if saved != self.gain:
            for name, _ in self.named_parameters(recurse=False):
                if prefix + name in state_dict:
                    state_dict[prefix + name] = (state_dict[prefix + name] *
                                                 (saved / self.gain))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def input_term(self, y: Tensor) -> Tensor:
        return conv1x1(y, self.scaled(self.u_h), self.scaled(self.u_h_bias))

    def forward(self, y: Tensor, prev_prior: Optional[Tensor]) -> Tensor:
        return self.act(self.input_term(y))


class RecurrentAggregation(MarkovAggregation):
    """``h^l = f(W_h h^{l-1} + U_h Y^{l-1})`` (eq. 3).

    Args: as :class:`MarkovAggregation`. ``W_h`` starts at zero (but with
    ``prior_init='random'``), so a fresh layer behaves as the Markov one
    until training moves it.
    """

    uses_previous_prior = True

    def add_weights(self) -> None:
        d = self.num_candidates
        self.w_h = nn.Parameter(torch.empty(d, d))

    def forward(self, y: Tensor, prev_prior: Optional[Tensor]) -> Tensor:
        prev = _zeros_if_none(prev_prior, y, self.num_candidates)
        return self.act(conv1x1(prev, self.scaled(self.w_h)) +
                        self.input_term(y))


class GatedAggregation(MarkovAggregation):
    """``h^l = f(a * W_h h^{l-1} + (1 - a) * U_h Y^{l-1})`` with
    ``a = sigmoid(W_a h^{l-1} + U_a Y^{l-1})`` (eqs. 4-5).

    Args: as :class:`MarkovAggregation`. ``W_h``, ``W_a``, ``U_a`` and the gate
    bias start at zero (``a = 0.5`` everywhere at start-up) but with
    ``prior_init='random'``.
    """

    uses_previous_prior = True

    def add_weights(self) -> None:
        d, c = self.num_candidates, self.in_channels
        self.w_h = nn.Parameter(torch.empty(d, d))
        self.w_a = nn.Parameter(torch.empty(d, d))
        self.u_a = nn.Parameter(torch.empty(d, c))
        self.u_a_bias = nn.Parameter(torch.empty(d))

    def forward(self, y: Tensor, prev_prior: Optional[Tensor]) -> Tensor:
        prev = _zeros_if_none(prev_prior, y, self.num_candidates)
        gate = torch.sigmoid(
            conv1x1(prev, self.scaled(self.w_a)) +
            conv1x1(y, self.scaled(self.u_a), self.scaled(self.u_a_bias)))
        return self.act(gate * conv1x1(prev, self.scaled(self.w_h)) +
                        (1 - gate) * self.input_term(y))


def check_gain(gain) -> float:
    """``gain`` as a float, or a ValueError naming it."""
    if (not isinstance(gain, (int, float)) or isinstance(gain, bool)
            or not 0 < gain < float('inf')):
        raise ValueError(f'prior gain must be a finite number > 0, got '
                         f'{gain!r}')
    return float(gain)


def _zeros_if_none(prev_prior: Optional[Tensor], y: Tensor,
                   channels: int) -> Tensor:
    """The first layer of a chain starts from a zero prior."""
    if prev_prior is not None:
        return prev_prior
    n, _, h, w = y.shape
    return y.new_zeros(n, channels, h, w)


for _cls in (MarkovAggregation, RecurrentAggregation, GatedAggregation):
    MODELS.register_module(module=_cls)


def build_aggregation(aggregation: Union[str, dict], in_channels: int,
                      num_candidates: int, base_index: int,
                      act_cfg: dict, prior_init: str = 'base',
                      gain: Optional[float] = None) -> nn.Module:
    """Build an aggregation from a short name (``'markov'``, ``'recurrent'``,
    ``'gated'``), a registered type name, or a config dict.

    Raises:
        ValueError: if ``aggregation`` names no registered aggregation.
    """
    if isinstance(aggregation, str):
        cfg = dict(type=aggregation)
    elif isinstance(aggregation, dict) and 'type' in aggregation:
        cfg = dict(aggregation)
    else:
        raise ValueError(
            'aggregation must be a name or a dict with a "type" key, '
            f'got {aggregation!r}')
    name = cfg['type']
    if isinstance(name, str) and MODELS.get(name) is None:
        alias = f'{name.capitalize()}Aggregation'
        if MODELS.get(alias) is None:
            raise ValueError(
                f'aggregation {name!r} is not registered; use "markov", '
                '"recurrent", "gated" or the type name of a module registered '
                "in mmengine's root MODELS")
        cfg['type'] = alias
    cfg.setdefault('in_channels', in_channels)
    cfg.setdefault('num_candidates', num_candidates)
    cfg.setdefault('base_index', base_index)
    cfg.setdefault('act_cfg', act_cfg)
    # an aggregation of one's own may take neither: only what is asked for
    if prior_init != 'base':
        cfg.setdefault('prior_init', prior_init)
    if gain is not None:
        cfg.setdefault('gain', check_gain(gain))
    aggregation_cls = MODELS.get(cfg['type']) if isinstance(
        cfg['type'], str) else cfg['type']
    if not (isinstance(aggregation_cls, type)
            and hasattr(aggregation_cls, 'uses_previous_prior')):
        raise ValueError(
            f'aggregation {name!r} is not an aggregation (a module with a '
            '"uses_previous_prior" attribute and the constructor '
            '(in_channels, num_candidates, base_index, act_cfg))')
    if not isinstance(cfg['act_cfg'], dict) or MODELS.get(
            cfg['act_cfg'].get('type')) is None:
        raise ValueError(
            f'act_cfg must name a registered activation, got {cfg["act_cfg"]!r}')
    module = MODELS.build(cfg)
    return module
