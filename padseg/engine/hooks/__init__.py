"""MMEngine hooks, one per file, registered in MMEngine's root ``HOOKS`` (so
they build under the mmseg and mmpretrain scopes)."""
from .dilation_logger_hook import DilationLoggerHook
from .finite_loss_hook import FiniteLossHook
from .pad_chain_hook import PADChainHook
from .safe_checkpoint_hook import SafeCheckpointHook
from .tau_annealing_hook import TauAnnealingHook, annealed_tau
from .unreadable_files_hook import UnreadableFilesHook

__all__ = [
    'TauAnnealingHook', 'annealed_tau', 'PADChainHook', 'DilationLoggerHook',
    'SafeCheckpointHook', 'FiniteLossHook', 'UnreadableFilesHook'
]
