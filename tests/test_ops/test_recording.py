"""``padseg/ops/recording.py``: the one way PAD layers' dilations are read."""
import torch
from torch import nn

from helpers.pad_geometry import randomise
from padseg.ops import (PADConv2d, candidate_values, expected_dilation,
                        link_pad_chain, record_dilations, selected_dilation)


def make_chain(aggregation='recurrent'):
    net = nn.Sequential(
        PADConv2d(3, 6, 3, padding=1, aggregation=aggregation), nn.ReLU(),
        PADConv2d(6, 6, 3, stride=2, padding=1, aggregation=aggregation))
    link_pad_chain(net)
    randomise(net)
    return net


def test_record_dilations_probabilities_sum_to_one_and_are_dropped():
    net = make_chain().train()
    with record_dilations(net) as layers:
        net(torch.randn(2, 3, 12, 12))
        for layer in layers.values():
            torch.testing.assert_close(layer.last_probs.sum(1),
                                       torch.ones(2, *layer.last_probs.shape[2:]))
            assert not layer.last_probs.requires_grad
    assert all(layer.last_probs is None for layer in layers.values())
    net(torch.randn(1, 3, 12, 12))
    assert net[0].last_probs is None


def test_the_prior_is_recorded_with_the_probabilities_it_gave():
    net = make_chain().eval()
    with torch.no_grad(), record_dilations(net) as layers:
        net(torch.randn(2, 3, 12, 12))
        for layer in layers.values():
            prior = layer.last_prior
            assert prior.dtype == torch.float32 and not prior.requires_grad
            # argmax evaluation: the one-hot of the recorded prior's argmax
            assert torch.equal(layer.last_probs.argmax(1), prior.argmax(1))
            values = torch.tensor(candidate_values(layer), dtype=torch.float)
            assert torch.equal(selected_dilation(layer, prior),
                               values[prior.argmax(1)])
            expected = expected_dilation(layer, layer.last_probs)
            assert torch.equal(expected, values[prior.argmax(1)])
    assert all(layer.last_prior is None for layer in layers.values())


def test_nested_blocks_record_until_the_outermost_ends():
    """A logging hook and an analysis may both record: the inner block's end
    must not stop or empty the outer one's recording."""
    net = make_chain()
    x = torch.randn(1, 3, 12, 12)
    with record_dilations(net) as outer:
        with record_dilations(net):
            net(x)
        assert all(layer.last_probs is not None for layer in outer.values())
        for layer in outer.values():
            layer.last_probs = None
        net(x)  # still recording
        assert all(layer.last_probs is not None for layer in outer.values())
    assert not any(layer.recording for layer in outer.values())
    assert all(layer.last_probs is None for layer in outer.values())
