"""padseg: Pixel-wise Adaptive Dilation (PAD-Nets) for MMSegmentation and
MMPretrain.

``import padseg`` registers names and changes nothing else: the PAD conv
layer and its aggregations, hooks, datasets, metrics, backbones and heads in the
MMEngine / mmseg / mmpretrain registries, the ``padseg`` registry scope and
config package (``_base_ = 'padseg::...'``, :mod:`padseg.registry`), the
``'atomic_local'`` file backend, and the allow-list of MMEngine's own
checkpoint objects for torch >= 2.6 safe loading (the one documented
exception: :func:`padseg.engine.allow_mmengine_checkpoints`).
"""
from .stack import check_stack

check_stack()  # a clear error before mmseg asserts its own mmcv range

from . import (datasets, engine, evaluation, models, ops,  # noqa: F401,E402
               registry)
from .version import __version__

__all__ = [
    '__version__', 'ops', 'engine', 'datasets', 'evaluation', 'models',
    'registry'
]
