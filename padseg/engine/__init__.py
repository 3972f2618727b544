"""MMEngine hooks for PAD models, checkpoint safety and tool helpers."""
from .checkpoint import allow_mmengine_checkpoints
from .dilation_logger import DilationLoggerHook
from .hooks import PADChainHook, TauAnnealingHook, annealed_tau
from .reliability import (FiniteLossHook, NonFiniteError, SafeCheckpointHook,
                          SafeLoadAnnotations, SafeLoadImageFromFile,
                          UnreadableFileError)

allow_mmengine_checkpoints()

__all__ = [
    'TauAnnealingHook', 'PADChainHook', 'DilationLoggerHook', 'annealed_tau',
    'allow_mmengine_checkpoints', 'SafeCheckpointHook', 'FiniteLossHook',
    'NonFiniteError', 'UnreadableFileError', 'SafeLoadImageFromFile',
    'SafeLoadAnnotations'
]
