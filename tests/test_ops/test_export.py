"""The PAD layer exports to ONNX with standard operators and runs there."""
import numpy as np
import onnx
import pytest
import torch
from onnx.reference import ReferenceEvaluator
from torch import nn

from padseg.ops import PADConv2d, link_pad_chain

STANDARD_DOMAINS = {'', 'ai.onnx'}


@pytest.mark.parametrize('aggregation,inference', [('markov', 'argmax'),
                                                   ('gated', 'soft')])
def test_onnx_export_runs_and_matches(tmp_path, aggregation, inference):
    net = nn.Sequential(
        PADConv2d(3, 4, 3, padding=1, aggregation=aggregation,
                  inference=inference),
        PADConv2d(4, 4, 3, stride=2, padding=1, aggregation=aggregation,
                  inference=inference, groups=2))
    link_pad_chain(net)
    with torch.no_grad():
        for param in net.parameters():
            param.normal_(0, 0.5)
    net.eval()
    x = torch.randn(1, 3, 11, 13)
    path = str(tmp_path / 'pad.onnx')
    torch.onnx.export(net, (x, ), path, input_names=['x'],
                      output_names=['y'], dynamo=False, opset_version=17)
    model = onnx.load(path)
    onnx.checker.check_model(model)
    assert {node.domain for node in model.graph.node} <= STANDARD_DOMAINS
    (got, ) = ReferenceEvaluator(model).run(None, {'x': x.numpy()})
    with torch.no_grad():
        expected = net(x).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
