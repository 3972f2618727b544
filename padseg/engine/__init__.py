"""MMEngine hooks for PAD models."""
from .checkpoint import allow_mmengine_checkpoints
from .hooks import PADChainHook, TauAnnealingHook, annealed_tau

allow_mmengine_checkpoints()

__all__ = [
    'TauAnnealingHook', 'PADChainHook', 'annealed_tau',
    'allow_mmengine_checkpoints'
]
