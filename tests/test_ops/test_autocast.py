"""PAD layers under ``torch.autocast('cpu', dtype=torch.bfloat16)`` give
finite outputs and gradients, and the Gumbel noise of eq. 2 is finite even
for the extreme uniforms ``0`` and ``1``."""
import pytest
import torch
from torch import nn

from padseg.ops import PADConv2d, gumbel_softmax, link_pad_chain, pad_layers
from padseg.ops.reference import autocast_operands, pad_conv2d_reference


def pad_chain(aggregation, hard, inference):
    chain = nn.Sequential(
        PADConv2d(4, 8, 3, padding=1, aggregation=aggregation, hard=hard,
                  inference=inference),
        nn.ReLU(),
        PADConv2d(8, 8, 3, stride=2, padding=2, dilation=2,
                  dilations=(1, 2, 3), aggregation=aggregation, hard=hard,
                  inference=inference))
    link_pad_chain(chain)
    for _, layer in pad_layers(chain):  # away from the start-up prior
        for param in layer.aggregation.parameters():
            param.data.normal_(0, 2.0)
    return chain


@pytest.mark.parametrize('aggregation', ['markov', 'recurrent', 'gated'])
@pytest.mark.parametrize('hard', [False, True])
def test_bf16_autocast_is_finite(aggregation, hard):
    chain = pad_chain(aggregation, hard, 'argmax')
    # large activations: bf16 keeps the range, loses precision
    x = (torch.randn(2, 4, 17, 19) * 300).requires_grad_(True)
    prior_dtypes = []
    for _, layer in pad_layers(chain):
        layer.aggregation.register_forward_hook(
            lambda module, args, prior: prior_dtypes.append(prior.dtype))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = chain(x)
        loss = out.float().pow(2).mean()
    assert prior_dtypes == [torch.bfloat16] * 2  # autocast reached PAD
    assert torch.isfinite(out).all()
    loss.backward()
    grads = [x.grad] + [p.grad for p in chain.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    chain.eval()
    for inference in ('argmax', 'soft'):
        for _, layer in pad_layers(chain):
            layer.inference = inference
        with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
            assert torch.isfinite(chain(x)).all()


@pytest.mark.parametrize('mode', ['train', 'argmax', 'soft'])
def test_fast_paths_follow_autocast_like_a_convolution(mode, monkeypatch):
    """16 channels per group (the CPU fast paths): a PAD layer after an
    autocast convolution gets bfloat16 input with float32 weights, computes
    in bfloat16 as ``nn.Conv2d`` would, and agrees with the reference."""
    from padseg.ops import dispatch, pad_conv
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1),
                        PADConv2d(16, 16, 3, padding=1, inference='soft'
                                  if mode == 'soft' else 'argmax'))
    for param in net[1].aggregation.parameters():
        param.data.normal_(0, 0.5)
    net.train(mode == 'train')
    x = torch.randn(2, 3, 9, 8)
    calls, outs = [], []
    monkeypatch.setattr(dispatch, 'autocast_operands',
                        lambda *a: calls.append(1) or autocast_operands(*a))
    for path in (pad_conv.pad_conv2d, reference_path):
        monkeypatch.setattr(pad_conv, 'pad_conv2d', path)
        torch.manual_seed(1)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            outs.append(net(x))
    assert calls, 'the fast paths were not taken'
    assert outs[0].dtype == torch.bfloat16
    torch.testing.assert_close(outs[0].float(), outs[1].float(), rtol=2e-2,
                               atol=2e-2)


def reference_path(*args, index=None, gpu_kernel=None):
    return pad_conv2d_reference(*args)


@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16,
                                   torch.float16])
@pytest.mark.parametrize('uniform', [0.0, 1e-45, 1e-12, 1.0 - 2**-25, 1.0])
def test_gumbel_noise_is_finite_for_extreme_uniforms(monkeypatch, dtype,
                                                     uniform):
    calls = []

    def extreme(like, *args, **kwargs):
        calls.append(like.dtype)
        return torch.full_like(like, uniform, dtype=torch.float32)

    monkeypatch.setattr(torch, 'rand_like', extreme)
    for hard in (False, True):
        logits = torch.tensor([[[[-30000.]], [[0.]], [[30000.]]]],
                              dtype=dtype, requires_grad=True)
        sample = gumbel_softmax(logits, tau=0.05, hard=hard)
        assert torch.isfinite(sample).all()
        assert sample.sum(dim=1).sub(1).abs().max() < 1e-5
        (sample * torch.arange(3.).view(1, 3, 1, 1)).sum().backward()
        assert torch.isfinite(logits.grad).all()
    # the noise was drawn through the patched sampler, in float32
    assert calls and all(d == torch.float32 for d in calls)


def test_pad_layer_with_extreme_uniforms_trains(monkeypatch):
    for uniform in (0.0, 1.0):
        monkeypatch.setattr(
            torch, 'rand_like',
            lambda like, *a, u=uniform, **k: torch.full_like(like, u))
        layer = PADConv2d(3, 4, 3, padding=1).train()
        x = torch.randn(1, 3, 9, 9, requires_grad=True)
        layer(x).sum().backward()
        assert torch.isfinite(x.grad).all()
        assert all(torch.isfinite(p.grad).all() for p in layer.parameters()
                   if p.grad is not None)
