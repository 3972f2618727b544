"""The dispatcher, ``padseg/ops/dispatch.py``: which path each call takes,
and that whatever it takes equals the definition, ``pad_conv2d_reference``,
in PAD networks of every aggregation and inference mode (outputs and the
gradients of the input and of every parameter)."""
import copy

import pytest
import torch
import torch.nn.functional as F

from helpers.pad_geometry import (GEOMETRIES, geometry_args, make_net,
                                  randomise)
from padseg.ops import PADConv2d, pad_conv, pad_conv2d, record_dilations
from padseg.ops import dispatch
from padseg.ops.pad_conv import gumbel_softmax
from padseg.ops.reference import pad_conv2d_reference

pytestmark = pytest.mark.usefixtures('kernels')


@pytest.mark.parametrize('geometry', GEOMETRIES)
def test_one_hot_candidates_only_for_exact_one_hot(geometry):
    _, _, _, probs, _ = geometry_args(geometry, torch.float32, 2)
    one_hot = F.one_hot(probs.argmax(1), probs.shape[1]).permute(0, 3, 1, 2)
    one_hot = one_hot.to(probs.dtype)
    index = dispatch.one_hot_candidates(one_hot)
    torch.testing.assert_close(index, probs.argmax(1))
    assert dispatch.one_hot_candidates(probs) is None
    not_one_hot = one_hot.clone()
    not_one_hot[0, :, 0, 0] = torch.tensor([1.0, 0.5, -0.5][:len(one_hot[0])])
    assert dispatch.one_hot_candidates(not_one_hot) is None


@pytest.mark.parametrize('geometry', [
    (16, 8, 3, 2, 1, 1, (1, 2, 4), 7, 6, True),  # the gather path
    GEOMETRIES[1],  # too few channels: the reference on the used candidates
])
def test_dispatcher_takes_a_given_index_for_the_one_hot_it_stands_for(
        geometry):
    x, weight, bias, probs, rest = geometry_args(geometry, torch.float32, 2)
    index = probs.argmax(1)
    one_hot = F.one_hot(index, probs.shape[1]).permute(0, 3, 1, 2).float()
    ref = pad_conv2d_reference(x, weight, bias, one_hot, *rest)
    torch.testing.assert_close(
        pad_conv2d(x, weight, bias, one_hot, *rest, index=index), ref)
    # With a gradient to give (the hard straight-through step), the index
    # selects each pixel's columns and the probabilities get their gradient.
    leaf = one_hot.clone().requires_grad_()
    out = pad_conv2d(x, weight, bias, leaf, *rest, index=index)
    torch.testing.assert_close(out, ref)
    grad = torch.randn_like(ref)
    expected = torch.autograd.grad(
        pad_conv2d_reference(x, weight, bias, leaf, *rest), leaf, grad)[0]
    torch.testing.assert_close(torch.autograd.grad(out, leaf, grad)[0],
                               expected, rtol=1e-4, atol=1e-5)


def test_argmax_evaluation_picks_the_first_of_tied_candidates():
    """Evaluation finds each pixel's candidate with ``max`` (faster than
    ``argmax``): on ties it must pick the first one, as ``argmax`` does."""
    layer = PADConv2d(4, 4, 3, padding=1).eval()
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad():
        layer.aggregation.u_h_bias.copy_(torch.tensor([0.0, 2.0, 2.0]))
    with torch.no_grad(), record_dilations(layer):
        layer(x)
        assert (layer.last_probs[:, 1] == 1).all()
        layer.aggregation.u_h.copy_(torch.randint(-1, 2, (3, 4)).float())
        x = torch.randint(-1, 2, x.shape).float()  # many ties
        prior = layer.hidden_prior(x)
        layer(x)
        torch.testing.assert_close(
            layer.last_probs.argmax(1), prior.argmax(1), rtol=0, atol=0)


def test_dispatcher_never_runs_the_reference_outside_export(monkeypatch):
    def refuse(*args):
        raise AssertionError('reference used')

    monkeypatch.setattr(dispatch, 'pad_conv2d_reference', refuse)
    layer = PADConv2d(16, 4, 3, padding=1)
    with torch.no_grad():
        layer.aggregation.u_h.normal_()
    x = torch.randn(1, 16, 6, 6, requires_grad=True)
    for mode in ('train', 'argmax', 'soft'):
        layer.train(mode == 'train')
        layer.inference = 'soft' if mode == 'soft' else 'argmax'
        layer(x).sum().backward()
        with torch.no_grad():
            layer(x)


def test_own_paths_apply_to_dense_convolutions_on_the_cpu_only():
    x = torch.empty(1, 16, 4, 4)
    assert dispatch.own_path_applies(x, torch.empty(8, 16, 3, 3))
    assert not dispatch.own_path_applies(x, torch.empty(16, 1, 3, 3))
    assert not dispatch.own_path_applies(x.to('meta'),
                                         torch.empty(8, 16, 3, 3))


def test_the_gpu_path_is_the_layers_choice_or_the_environments(monkeypatch):
    monkeypatch.delenv('PADSEG_GPU_KERNEL', raising=False)
    monkeypatch.delenv('PADSEG_TRITON', raising=False)
    assert dispatch.gpu_kernel_choice() == 'reference'
    assert dispatch.gpu_kernel_choice('columns') == 'columns'
    monkeypatch.setenv('PADSEG_GPU_KERNEL', 'columns')
    assert dispatch.gpu_kernel_choice() == 'columns'
    assert dispatch.gpu_kernel_choice('reference') == 'reference'
    monkeypatch.setenv('PADSEG_GPU_KERNEL', 'cudnn')
    with pytest.raises(ValueError, match='PADSEG_GPU_KERNEL must be one of'):
        dispatch.gpu_kernel_choice()
    monkeypatch.setenv('PADSEG_GPU_KERNEL', 'triton')
    with pytest.raises(ValueError, match='PADSEG_GPU_KERNEL=.triton.: '
                                         ".*removed.*'columns'"):
        dispatch.gpu_kernel_choice()
    monkeypatch.delenv('PADSEG_GPU_KERNEL')
    monkeypatch.setenv('PADSEG_TRITON', '1')
    with pytest.raises(ValueError, match='PADSEG_TRITON is set.*removed'):
        dispatch.gpu_kernel_choice()


@pytest.mark.parametrize('value', ['triton', 'dominant', 'cuda'])
def test_a_layer_refuses_a_removed_or_unknown_gpu_kernel(value, monkeypatch):
    with pytest.raises(ValueError, match='gpu_kernel'):
        PADConv2d(16, 4, 3, padding=1, gpu_kernel=value)
    assert PADConv2d(16, 4, 3, padding=1, gpu_kernel='columns')
    # the environment's choice is checked when the layer is built, on any
    # device, not first on a GPU
    monkeypatch.setenv('PADSEG_GPU_KERNEL', value)
    with pytest.raises(ValueError, match='PADSEG_GPU_KERNEL'):
        PADConv2d(16, 4, 3, padding=1)


def test_one_candidate_everywhere_is_the_plain_convolution():
    x, weight, bias, probs, rest = geometry_args(GEOMETRIES[2], torch.float32)
    one_hot = torch.zeros_like(probs)
    one_hot[:, 1] = 1
    stride, paddings, dilations, groups = rest
    expected = F.conv2d(x, weight, bias, stride, paddings[1], dilations[1],
                        groups)
    torch.testing.assert_close(pad_conv2d(x, weight, bias, one_hot, *rest),
                               expected)


def reference(*args, index=None, gpu_kernel=None):
    """The reference in place of the dispatcher (``index``, which PAD layers
    pass in argmax evaluation, only saves the dispatcher's one-hot check)."""
    return pad_conv2d_reference(*args)


@pytest.mark.parametrize('aggregation', ['markov', 'recurrent', 'gated'])
@pytest.mark.parametrize('mode', ['train soft', 'train hard', 'eval soft',
                                  'eval argmax'])
def test_network_outputs_and_all_gradients_match_reference(
        aggregation, mode, monkeypatch):
    """The dispatcher against the reference in a chain of PAD layers: the
    same Gumbel noise, then outputs and the gradients of the input and of
    every parameter (weights, biases, the prior's ``U``/``W``)."""
    fast = make_net(aggregation, hard=mode == 'train hard',
                    inference='soft' if mode == 'eval soft' else 'argmax')
    slow = copy.deepcopy(fast)
    fast.train(mode.startswith('train'))
    slow.train(mode.startswith('train'))
    x = torch.randn(2, 16, 11, 9)
    results = []
    for net, fn in ((fast, pad_conv2d), (slow, reference)):
        monkeypatch.setattr(pad_conv, 'pad_conv2d', fn)
        torch.manual_seed(7)
        x_ = x.clone().requires_grad_()
        out = net(x_)
        weights = torch.linspace(-1, 1, out.numel()).view_as(out)
        (out * weights).sum().backward()
        grads = {name: p.grad for name, p in net.named_parameters()}
        results.append((out, x_.grad, grads))
    (out, x_grad, grads), (ref, ref_x_grad, ref_grads) = results
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(x_grad, ref_x_grad, rtol=1e-4, atol=1e-5)
    assert grads.keys() == ref_grads.keys()
    for name, grad in grads.items():
        if ref_grads[name] is None:  # no prior reaches the first layer's W_h
            assert grad is None or not grad.any(), name
            continue
        torch.testing.assert_close(grad, ref_grads[name], rtol=1e-4,
                                   atol=1e-5, msg=name)
    if mode != 'eval argmax':
        assert grads['0.aggregation.u_h'].abs().sum() > 0
    else:  # without autograd: the gather path
        for net, fn in ((fast, pad_conv2d), (slow, reference)):
            monkeypatch.setattr(pad_conv, 'pad_conv2d', fn)
            with torch.no_grad():
                results.append(net(x))
        torch.testing.assert_close(results[2], results[3])


def test_record_dilations_sees_the_probabilities_the_fast_path_used():
    layer = PADConv2d(4, 4, 3, padding=1).eval()
    randomise(layer)
    x = torch.randn(1, 4, 8, 8)
    with torch.no_grad(), record_dilations(layer):
        out = layer(x)
        probs = layer.last_probs
    expected = pad_conv2d_reference(x, layer.weight, layer.bias, probs,
                                    layer.stride, layer.candidate_paddings,
                                    layer.candidate_dilations, 1)
    torch.testing.assert_close(out, expected)
    assert len(probs.argmax(1).unique()) > 1


def test_gumbel_hard_probs_are_not_taken_for_one_hot():
    """Straight-through samples carry a gradient, so they take the columns
    path; their forward value equals the one-hot reference."""
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    probs = gumbel_softmax(logits, tau=1.0, hard=True)
    x, weight, bias, _, rest = geometry_args(
        (4, 4, 3, 1, 1, 1, (1, 2, 4), 4, 4, True), torch.float32)
    out = pad_conv2d(x, weight, bias, probs, *rest)
    ref = pad_conv2d_reference(x, weight, bias, probs.detach().round(), *rest)
    torch.testing.assert_close(out, ref)
    out.sum().backward()
    assert logits.grad.abs().sum() > 0
