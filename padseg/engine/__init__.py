"""MMEngine hooks for PAD models (``hooks/``, one per file) and checkpoint
I/O (``checkpoint``).

Importing it registers the hooks and the ``'atomic_local'`` file backend;
the one global change it makes is :func:`allow_mmengine_checkpoints` (torch
>= 2.6 safe loading of MMEngine's own checkpoint objects, which the stock
mmseg tools need). The checked checkpoint loader is installed by padseg's
tools (:func:`install_checkpoint_guards`), never on import.
"""
from padseg.errors import NonFiniteError, UnreadableFileError
from .checkpoint import allow_mmengine_checkpoints, install_checkpoint_guards
from .hooks import (DilationLoggerHook, FiniteLossHook, PADChainHook,
                    SafeCheckpointHook, TauAnnealingHook, UnreadableFilesHook,
                    annealed_tau)

allow_mmengine_checkpoints()

__all__ = [
    'TauAnnealingHook', 'PADChainHook', 'DilationLoggerHook', 'annealed_tau',
    'allow_mmengine_checkpoints', 'install_checkpoint_guards',
    'SafeCheckpointHook', 'FiniteLossHook', 'UnreadableFilesHook',
    'NonFiniteError', 'UnreadableFileError'
]
