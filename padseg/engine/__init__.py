"""MMEngine hooks for PAD models, checkpoint safety and tool helpers.

Importing it registers the hooks; the one global change it makes is
:func:`allow_mmengine_checkpoints` (torch >= 2.6 safe loading of MMEngine's
own checkpoint objects, which the stock mmseg tools need). The checkpoint
loader's guards are installed by padseg's tools
(:func:`install_checkpoint_guards`), never on import.
"""
from .checkpoint import allow_mmengine_checkpoints
from .dilation_logger import DilationLoggerHook
from .hooks import PADChainHook, TauAnnealingHook, annealed_tau
from .reliability import (FiniteLossHook, NonFiniteError, SafeCheckpointHook,
                          UnreadableFileError, UnreadableFilesHook,
                          install_checkpoint_guards, name_unreadable_files)

allow_mmengine_checkpoints()

__all__ = [
    'TauAnnealingHook', 'PADChainHook', 'DilationLoggerHook', 'annealed_tau',
    'allow_mmengine_checkpoints', 'SafeCheckpointHook', 'FiniteLossHook',
    'NonFiniteError', 'UnreadableFileError', 'UnreadableFilesHook',
    'install_checkpoint_guards', 'name_unreadable_files'
]
