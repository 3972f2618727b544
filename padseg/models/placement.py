"""Where PAD goes in a backbone nobody named layers for: the default
placement of :func:`~padseg.models.backbones.PADBackbone`.

The paper's Table 1: PAD pays at the higher feature levels, where one
dilation per layer fits the varied objects least. So by default the PAD
layers are the convolutions a PAD layer can take over (plain, odd kernel of
at least 3, stride 1: :func:`placement_candidates`) that read the backbone's
**deepest features**, the lowest resolution a probe forward pass reaches,
and of those the **last stage**'s (a dilated ResNet-D8 keeps layer3 and
layer4 at one resolution: layer4, as the paper and padseg's own backbones
place it). A stage is the backbone's top-level child, or the child of a
top-level list of stages (``layers.3`` in MiT, ``stages.3`` in ConvNeXt);
families whose stages are not children of their own have a rule of their
own (:data:`FAMILY_RULES`). docs/mix_in.md lists what each family gets.
"""
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

from .utils import plain_conv_refusal

__all__ = ['placement_candidates', 'default_pad_layers', 'FAMILY_RULES']

#: Backbone class -> (the submodule to look in, which of its
#: lowest-resolution candidates), where the generic rule (the whole model,
#: its last stage) does not fit: MobileNetV3 keeps every block as a
#: top-level child (``layer1`` ... ``layer16``), so its deepest stage is
#: every block at the lowest resolution; STDC's context path and BiSeNetV2
#: hold refinement or aggregation modules after their deepest stage at the
#: same resolution, so the rule looks inside the network proper
#: (``backbone``: the STDC network; ``semantic``: BiSeNetV2's semantic
#: branch, whose stage 4 and context block share the lowest resolution).
FAMILY_RULES: Dict[str, Tuple[Optional[str], str]] = {
    'MobileNetV3': (None, 'lowest resolution'),
    'STDCContextPathNet': ('backbone', 'last stage'),
    'BiSeNetV2': ('semantic', 'lowest resolution'),
}
#: The probe's input side: large enough for every stock backbone's
#: downsampling (1/32) and windows, small enough to cost little.
_PROBE_SIZE = 128


def placement_candidates(model: nn.Module) -> List[str]:
    """Names of the convolutions of ``model`` that the default placement may
    choose: plain convolutions with odd kernels of at least 3, stride 1,
    zero padding."""
    return [name for name, conv in model.named_modules()
            if name and plain_conv_refusal(conv) is None
            and conv.stride == (1, 1) and min(conv.kernel_size) >= 3
            and all(k % 2 for k in conv.kernel_size)
            and conv.padding_mode == 'zeros']


def _stage(model: nn.Module, name: str,
           sizes: Dict[str, Tuple[int, int]]) -> str:
    """The stage a module belongs to: the top-level child, or, when that
    child is a list of stages (its children read different resolutions:
    ``layers`` in MiT, ``stages`` in ConvNeXt, ``encoder`` in UNet), the
    child of it."""
    head, _, rest = name.partition('.')
    child = getattr(model, head, None)
    if isinstance(child, (nn.ModuleList, nn.Sequential)) and rest:
        lowest = {}
        for other, (h, w) in sizes.items():
            if other.startswith(head + '.'):
                part = other.split('.')[1]
                lowest[part] = min(lowest.get(part, h * w), h * w)
        if len(set(lowest.values())) > 1:
            return f'{head}.{rest.partition(".")[0]}'
    return head


def _input_channels(model: nn.Module) -> int:
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module.in_channels
    raise ValueError(f'{type(model).__name__} has no convolution to probe')


def _probe(model: nn.Module, names: List[str]) -> Dict[str, Tuple[int, int]]:
    """The spatial size each named convolution reads in one forward pass of
    a ``_PROBE_SIZE`` image (eval mode, no gradient; the model's modes are
    restored), in the order of ``names``; those that did not run are left
    out."""
    modules = dict(model.named_modules())
    sizes, handles = {}, []
    for name in names:
        def record(module, args, name=name):
            sizes.setdefault(name, tuple(args[0].shape[-2:]))
        handles.append(modules[name].register_forward_pre_hook(record))
    modes = {module: module.training for module in model.modules()}
    first = next((p for p in model.parameters()), None)
    kwargs = {} if first is None else dict(device=first.device,
                                           dtype=first.dtype)
    image = torch.zeros(1, _input_channels(model), _PROBE_SIZE, _PROBE_SIZE,
                        **kwargs)
    try:
        model.eval()
        with torch.no_grad():
            model(image)
    finally:
        for handle in handles:
            handle.remove()
        for module, mode in modes.items():
            module.training = mode
    return {name: sizes[name] for name in names if name in sizes}


def default_pad_layers(model: nn.Module) -> List[str]:
    """The convolutions the default placement turns into PAD layers (see the
    module's docstring), in the model's order.

    Raises:
        ValueError: when no convolution of ``model`` can become a PAD layer
            (then name them with ``pad_layers``).
    """
    candidates = placement_candidates(model)
    sizes = _probe(model, candidates) if candidates else {}
    if not sizes:
        raise ValueError(
            f'{type(model).__name__} has no plain stride-1 kxk (k >= 3, odd) '
            'convolution that runs in its forward pass, so there is no '
            'default PAD placement; name the layers with pad_layers '
            '(tools/analysis/pad_candidates.py lists its convolutions)')
    within, rule = FAMILY_RULES.get(type(model).__name__,
                                    (None, 'last stage'))
    prefix = ''
    if within is not None:
        prefix = within + '.'
        sizes = {name[len(prefix):]: size for name, size in sizes.items()
                 if name.startswith(prefix)}
        model = model.get_submodule(within)
    lowest = min(h * w for h, w in sizes.values())
    chosen = [name for name in sizes if sizes[name][0] * sizes[name][1] ==
              lowest]
    if rule != 'lowest resolution':
        last = _stage(model, chosen[-1], sizes)
        chosen = [name for name in chosen
                  if _stage(model, name, sizes) == last]
    return [prefix + name for name in chosen]
