"""MMEngine hooks for PAD models."""
from .checkpoint import allow_mmengine_checkpoints
from .dilation_logger import DilationLoggerHook
from .hooks import PADChainHook, TauAnnealingHook, annealed_tau

allow_mmengine_checkpoints()

__all__ = [
    'TauAnnealingHook', 'PADChainHook', 'DilationLoggerHook', 'annealed_tau',
    'allow_mmengine_checkpoints'
]
