"""The dilation probabilities of a PAD layer from its hidden prior (eq. 2):
Gumbel-softmax samples in training (soft, or straight-through one-hot), the
argmax or the softmax expectation in evaluation."""
import torch
from torch import Tensor

__all__ = ['gumbel_softmax', 'dilation_probabilities', 'argmax_candidates']

#: Uniform samples are clamped to ``[_UNIFORM_LOW, _UNIFORM_HIGH]`` (both
#: exact in float32) so the Gumbel noise ``-log(-log(u))`` is always finite.
_UNIFORM_LOW = 1e-10
_UNIFORM_HIGH = 1.0 - torch.finfo(torch.float32).eps


def gumbel_softmax(logits: Tensor, tau: float, hard: bool = False) -> Tensor:
    """Eq. 2: ``softmax((h + g) / tau)`` over dim 1, ``g ~ Gumbel(0, 1)``.

    Noise and softmax are computed in float32 whatever the input dtype, so
    half-precision priors never give ``inf`` or ``NaN``. With ``hard=True`` the
    forward value is the one-hot argmax and the gradient that of the soft
    sample (straight-through).
    """
    logits = logits.float()
    uniform = torch.rand_like(logits).clamp_(_UNIFORM_LOW, _UNIFORM_HIGH)
    gumbel = -torch.log(-torch.log(uniform))
    soft = torch.softmax((logits + gumbel) / tau, dim=1)
    if not hard:
        return soft
    return _one_hot_argmax(soft) - soft.detach() + soft


def argmax_candidates(scores: Tensor) -> Tensor:
    """Index of the largest score over dim 1 (the first on ties, as
    ``argmax``). ``max`` gives the same index as ``argmax`` and reduces over
    the few candidates of an NCHW tensor several times faster on the CPU."""
    return scores.max(dim=1)[1]


def _one_hot_argmax(scores: Tensor) -> Tensor:
    """One-hot ``(N, D, H, W)`` of the largest score of each pixel."""
    index = argmax_candidates(scores)
    return torch.zeros_like(scores).scatter_(1, index[:, None], 1.0)


def dilation_probabilities(logits: Tensor, tau: float, training: bool,
                           hard: bool, inference: str) -> Tensor:
    """Per-pixel weights of the candidate dilations, ``(N, D, H, W)``: float32
    (float64 for a float64 prior in evaluation, so that a float64 network is
    float64 throughout)."""
    if training:
        return gumbel_softmax(logits, tau, hard)
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    if inference == 'argmax':
        return _one_hot_argmax(logits)
    return torch.softmax(logits / tau, dim=1)
