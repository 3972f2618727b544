"""``TauAnnealingHook``: the Gumbel-softmax temperature of every PAD layer
(eq. 2) annealed over training."""
import math
from typing import Optional

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from padseg.ops import pad_layers
from ..utils import unwrap_model

__all__ = ['TauAnnealingHook', 'annealed_tau', 'SCHEDULES']


SCHEDULES = ('linear', 'exponential', 'cosine')


def annealed_tau(start: float, end: float, progress: float,
                 schedule: str) -> float:
    """Temperature at ``progress`` in ``[0, 1]`` going from ``start`` to ``end``."""
    progress = min(max(progress, 0.0), 1.0)
    if schedule == 'linear':
        return start + (end - start) * progress
    if schedule == 'exponential':
        return start * (end / start)**progress
    return end + (start - end) * (1 + math.cos(math.pi * progress)) / 2


@HOOKS.register_module()
class TauAnnealingHook(Hook):
    """Anneal the Gumbel-softmax temperature of every PAD layer (eq. 2).

    Before each training iteration ``tau`` is set from the iteration count,
    so a resumed run continues the schedule where it stopped. The value is
    logged as ``tau``.

    Args:
        start (float): ``tau`` at iteration 0. Default: 1.0.
        end (float): ``tau`` at ``total_iters`` and after. Default: 0.1.
        schedule (str): ``'linear'``, ``'exponential'`` or ``'cosine'``.
            Default: ``'exponential'``.
        total_iters (int, optional): Length of the schedule; by default the
            runner's ``max_iters``.

    Example:
        >>> custom_hooks = [dict(type='TauAnnealingHook', start=1.0, end=0.2)]
    """

    priority = 'NORMAL'

    def __init__(self,
                 start: float = 1.0,
                 end: float = 0.1,
                 schedule: str = 'exponential',
                 total_iters: Optional[int] = None) -> None:
        for name, value in (('start', start), ('end', end)):
            if not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f'{name} must be a number > 0, got {value!r}')
        if schedule not in SCHEDULES:
            raise ValueError(
                f'schedule must be one of {SCHEDULES}, got {schedule!r}')
        if total_iters is not None and (not isinstance(total_iters, int)
                                        or total_iters <= 0):
            raise ValueError(
                f'total_iters must be a positive int, got {total_iters!r}')
        self.start = float(start)
        self.end = float(end)
        self.schedule = schedule
        self.total_iters = total_iters

    def before_train(self, runner) -> None:
        if not any(True for _ in pad_layers(unwrap_model(runner.model))):
            raise RuntimeError(
                'TauAnnealingHook is configured but the model has no PAD layer')

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        total = self.total_iters or runner.max_iters
        tau = annealed_tau(self.start, self.end, runner.iter / total,
                           self.schedule)
        for _, layer in pad_layers(unwrap_model(runner.model)):
            layer.tau = tau
        runner.message_hub.update_scalar('train/tau', tau)
