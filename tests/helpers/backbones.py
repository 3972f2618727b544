"""Checks that the tests of every PAD backbone share."""
from typing import Callable, Dict, Iterable, List, Sequence

import torch
from torch import Tensor, nn

from padseg.ops import pad_layers



def pad_names(model: nn.Module) -> List[str]:
    """Names of the PAD layers of ``model``, in module order."""
    return [name for name, _ in pad_layers(model)]


def assert_output_shapes(model: nn.Module, size: int, channels: Sequence[int],
                         strides: Sequence[int]) -> None:
    """In eval mode, output ``i`` for a ``size`` x ``size`` image has
    ``channels[i]`` channels at stride ``strides[i]``."""
    model.eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, size, size))
    assert [tuple(out.shape) for out in outs] == [
        (1, c, size // s, size // s) for c, s in zip(channels, strides)
    ]


def assert_loaded(model: nn.Module, state_dict: Dict[str, Tensor],
                  skip: Sequence[str] = ()) -> None:
    """Every tensor of ``state_dict`` (but keys starting with ``skip``) is in
    ``model`` under the same key."""
    own = model.state_dict()
    for key, value in state_dict.items():
        if not key.startswith(tuple(skip)):
            assert torch.equal(own[key], value), key


def assert_pad_off_is_vanilla(vanilla: nn.Module, off: nn.Module,
                              x: Tensor) -> None:
    """The PAD form with every ``stage_with_pad`` False is the vanilla net:
    no PAD layer, the same state-dict keys and, with the same weights, the
    same outputs in eval mode."""
    assert pad_names(off) == []
    assert list(off.state_dict()) == list(vanilla.state_dict())
    off.load_state_dict(vanilla.state_dict())
    vanilla.eval()  # (mmseg's train() returns None: no chaining)
    off.eval()
    with torch.no_grad():
        expected, outs = vanilla(x), off(x)
    assert len(outs) == len(expected)
    for out, ref in zip(outs, expected):
        assert torch.equal(out, ref)


def assert_starts_as_vanilla(vanilla: nn.Module, pad: nn.Module, x: Tensor,
                             missing: Iterable[str]) -> None:
    """A fresh PAD net takes the vanilla weights with only its aggregation
    weights ``missing`` and then, in eval mode, computes the vanilla outputs:
    at start-up the aggregation prefers the base dilation."""
    result = pad.load_state_dict(vanilla.state_dict(), strict=False)
    assert sorted(result.missing_keys) == sorted(missing)
    assert result.unexpected_keys == []
    vanilla.eval()
    pad.eval()
    with torch.no_grad():
        expected, outs = vanilla(x), pad(x)
    assert len(outs) == len(expected)
    for out, ref in zip(outs, expected):
        torch.testing.assert_close(out, ref)


def assert_training_step_reaches_every_parameter(
        model: nn.Module,
        x: Tensor,
        loss: Callable[[Tensor], Tensor] = lambda out: out.mean()) -> None:
    """One training step (the sum of ``loss`` over the outputs, backward)
    leaves no parameter without a gradient."""
    model.train()
    model.zero_grad()
    sum(loss(out) for out in model(x)).backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []
