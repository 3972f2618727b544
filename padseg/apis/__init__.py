"""What padseg's tools share: reading a config, making it run where it is
(CPU, GPUs, CPU-distributed), building the Runner of its scope with the
checkpoint guards installed, and the analysis tools' arguments."""
from .launch import (adapt_to_device, build_runner, close_distributed,
                     load_config, set_local_rank)

__all__ = [
    'load_config', 'adapt_to_device', 'build_runner', 'set_local_rank',
    'close_distributed'
]
