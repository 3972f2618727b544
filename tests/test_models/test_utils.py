import pytest
import torch
from torch import nn

from padseg.models.utils import (PAD_CFG_KEYS, check_pad_cfg, check_with_cp,
                                 pad_candidates, replace_with_pad)
from padseg.ops import PADConv2d, link_pad_chain


def test_check_pad_cfg():
    assert PAD_CFG_KEYS == ('dilations', 'aggregation', 'tau', 'hard',
                            'inference', 'act_cfg', 'prior_init',
                            'prior_gain', 'gpu_kernel')
    pad_cfg = dict(dilations=(1, 2, 3), aggregation='gated', tau=0.5)
    checked = check_pad_cfg(pad_cfg)
    assert checked == pad_cfg and checked is not pad_cfg
    with pytest.raises(ValueError, match='pad_cfg must be a dict'):
        check_pad_cfg('markov')
    # A conv-geometry argument or a typo is named.
    with pytest.raises(ValueError, match="unknown key.*'dilation'"):
        check_pad_cfg(dict(dilation=2, aggregation='markov'))
    with pytest.raises(ValueError, match="'kernel_size'"):
        check_pad_cfg(dict(kernel_size=3))


def test_replace_with_pad_keeps_weight_bias_and_key():
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=2, dilation=2),
        nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, bias=False),
                      nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 3, stride=2)))
    convs = {name: m for name, m in model.named_modules()
             if isinstance(m, nn.Conv2d)}
    assert pad_candidates(model) == ['0', '1.0']
    keys = list(model.state_dict())
    for name in pad_candidates(model):
        pad = replace_with_pad(model, name, dict(dilations=(1, 2)))
        assert model.get_submodule(name) is pad
        conv = convs[name]
        assert isinstance(pad, PADConv2d)
        assert (pad.dilation, pad.padding) == (conv.dilation, conv.padding)
        assert torch.equal(pad.weight, conv.weight)
        assert (pad.bias is None) == (conv.bias is None)
        if conv.bias is not None:
            assert torch.equal(pad.bias, conv.bias)
    assert [k for k in model.state_dict()
            if '.aggregation.' not in k and not k.endswith('.tau')] == keys
    with pytest.raises(ValueError, match='odd and at least 3'):
        replace_with_pad(model, '1.1', {})


def test_check_with_cp():
    model = nn.Sequential(PADConv2d(2, 2, 3, padding=1,
                                    aggregation='recurrent'))
    link_pad_chain(model)
    check_with_cp(model, False)
    with pytest.raises(ValueError, match='with_cp=True.*RecurrentAggregation'):
        check_with_cp(model, True)
    check_with_cp(nn.Sequential(PADConv2d(2, 2, 3, padding=1)), True)
