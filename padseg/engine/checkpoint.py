"""Checkpoints of MMEngine runs load under PyTorch's safe loading.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True`` and refuses
every global it does not know; mmengine 0.10.7 calls it without the argument,
so ``--resume``, ``load_from`` and ``tools/test.py`` fail on the checkpoints
mmengine itself writes: its message hub pickles ``HistoryBuffer`` objects that
hold numpy arrays, and a dict of ``HistoryBuffer``'s statistics methods, which
pickle as ``getattr(HistoryBuffer, 'min')``. Importing padseg allow-lists
exactly these — nothing else — so safe loading stays on for everything else,
also when a padseg config runs through mmseg's stock tools
(``custom_imports=dict(imports=['padseg'])``). ``getattr`` itself is *not*
allowed: the name resolves to :func:`history_buffer_method`, which only hands
out ``HistoryBuffer``'s registered statistics methods.
"""
import pickle

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

__all__ = [
    'MMENGINE_CHECKPOINT_GLOBALS', 'allow_mmengine_checkpoints',
    'history_buffer_method'
]


def _numpy_globals() -> list:
    core = getattr(np, '_core', None) or np.core
    entries = [np.ndarray, np.dtype]
    # numpy 2 pickles name ``numpy._core``, numpy 1 ``numpy.core``: accept both
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        entries.append((core.multiarray._reconstruct, f'{module}._reconstruct'))
        entries.append((core.multiarray.scalar, f'{module}.scalar'))
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:  # numpy >= 1.25 pickles dtype classes by name
        entries += [getattr(dtypes, name) for name in dir(dtypes)
                    if name.endswith('DType')]
    return entries


_DEFAULT_STATISTICS = ('min', 'max', 'current', 'mean')


def history_buffer_method(owner, name: str):
    """``getattr`` as the unpickler may use it: only
    ``HistoryBuffer.<registered statistics method>``."""
    if owner is HistoryBuffer:
        if name in HistoryBuffer._statistics_methods:
            return HistoryBuffer._statistics_methods[name]
        if name in _DEFAULT_STATISTICS:  # registered by the first instance
            return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({owner!r}, {name!r}); safe loading '
        'only allows the statistics methods of mmengine\'s HistoryBuffer')


MMENGINE_CHECKPOINT_GLOBALS = [
    HistoryBuffer, (history_buffer_method, 'builtins.getattr')
] + _numpy_globals()


def allow_mmengine_checkpoints() -> None:
    """Allow-list :data:`MMENGINE_CHECKPOINT_GLOBALS` for ``torch.load``."""
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is not None:  # torch < 2.4 loads them without being asked
        add(MMENGINE_CHECKPOINT_GLOBALS)
