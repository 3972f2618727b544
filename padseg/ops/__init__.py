"""The PAD convolution, its aggregations and its chain."""
from .aggregation import (GatedAggregation, MarkovAggregation,
                          RecurrentAggregation, build_aggregation)
from .dispatch import pad_conv2d
from .pad_conv import (PADChain, PADConv2d, dilation_probabilities,
                       gumbel_softmax, link_pad_chain, pad_layers)
from .reference import pad_conv2d_reference
from .recording import (candidate_values, expected_dilation,
                        record_dilations, selected_dilation)

__all__ = [
    'PADConv2d', 'PADChain', 'link_pad_chain', 'pad_layers',
    'gumbel_softmax', 'dilation_probabilities', 'pad_conv2d',
    'pad_conv2d_reference',
    'MarkovAggregation', 'RecurrentAggregation', 'GatedAggregation',
    'build_aggregation', 'record_dilations', 'candidate_values',
    'expected_dilation',
    'selected_dilation'
]
