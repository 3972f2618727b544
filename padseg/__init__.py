"""padseg: Pixel-wise Adaptive Dilation (PAD-Nets) for MMSegmentation and
MMPretrain. ``import padseg`` registers the PAD conv layer, its aggregations,
hooks, backbones and heads."""
from . import datasets, engine, models, ops  # noqa: F401  (registration)
from .version import __version__

__all__ = ['__version__', 'ops', 'engine', 'datasets', 'models']
