"""Checkpoints of MMEngine runs load under PyTorch's safe loading.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True`` and refuses
every global it does not know; mmengine 0.10.7 calls it without the argument,
so ``--resume``, ``load_from`` and ``tools/test.py`` fail on the checkpoints
mmengine itself writes (its message hub pickles ``HistoryBuffer`` objects that
hold numpy arrays). Importing padseg allow-lists exactly the globals such a
checkpoint contains — nothing else — so safe loading stays on for everything
else, also when a padseg config runs through mmseg's stock tools
(``custom_imports=dict(imports=['padseg'])``).
"""
import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

__all__ = ['MMENGINE_CHECKPOINT_GLOBALS', 'allow_mmengine_checkpoints']


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


MMENGINE_CHECKPOINT_GLOBALS = [HistoryBuffer] + _numpy_globals()


def allow_mmengine_checkpoints() -> None:
    """Allow-list :data:`MMENGINE_CHECKPOINT_GLOBALS` for ``torch.load``."""
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is not None:  # torch < 2.4 loads them without being asked
        add(MMENGINE_CHECKPOINT_GLOBALS)
