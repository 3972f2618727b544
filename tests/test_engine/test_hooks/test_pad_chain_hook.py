"""PADChainHook links PAD layers that no padseg backbone linked."""
import math
from types import SimpleNamespace

import torch
from torch import nn

from padseg.engine.hooks import PADChainHook
from padseg.ops import PADConv2d


def test_chain_hook_links_unlinked_layers_over_the_model():
    model = nn.Sequential(
        PADConv2d(3, 3, 3, padding=1, aggregation='recurrent'),
        PADConv2d(3, 3, 3, padding=1, aggregation='recurrent'))
    PADChainHook().before_run(SimpleNamespace(model=model))
    assert model[0].chain is not None and model[0].chain is model[1].chain
    model.eval()(torch.randn(1, 3, 6, 6))
    assert model[0].chain.prior is None  # emptied after the pass
    assert math.isfinite(model[0].tau)
