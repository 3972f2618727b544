"""``FiniteLossHook``: non-finite losses and gradients never reach the
weights. See docs/reliability.md."""
import logging
import math
from typing import List, Optional

import torch
from mmengine.dist import all_reduce, is_distributed
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

from padseg.errors import NonFiniteError
from ..utils import unwrap_model
from .safe_checkpoint_hook import last_good_checkpoint

__all__ = ['FiniteLossHook']


def _optimizers(optim_wrapper) -> list:
    wrappers = (optim_wrapper.values()
                if hasattr(optim_wrapper, 'values') else [optim_wrapper])
    return [wrapper.optimizer for wrapper in wrappers]


def _all_finite(tensors: List[torch.Tensor]) -> bool:
    peaks = [t.detach().abs().amax().float() for t in tensors if t.numel()]
    return not peaks or bool(torch.isfinite(torch.stack(peaks)).all())


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Keep non-finite losses and gradients out of the weights.

    Before every optimizer step the gradients are checked; if any is
    ``inf``/``NaN`` they are dropped, so the step changes no weight and no
    optimizer state. After the iteration, a non-finite loss or a dropped step
    either stops training (``action='stop'``) with :class:`NonFiniteError`
    naming the iteration, the loss and the last good checkpoint, or is
    skipped (``action='skip'``): logged as a warning, and the model's buffers
    (e.g. BN statistics the bad batch changed) are restored. The iteration
    still counts (LR and tau schedules move on). More than
    ``max_consecutive_skips`` bad iterations in a row stop training.

    Under ``AmpOptimWrapper`` the loss scaler already skips the steps whose
    scaled gradients overflow; this hook then acts only on non-finite losses.

    Args:
        action (str): ``'stop'`` or ``'skip'``. Default: ``'stop'``.
        max_consecutive_skips (int): With ``'skip'``, stop after this many
            bad iterations in a row (> 0). Default: 10.

    Example:
        >>> default_hooks = dict(finite_loss=dict(type='FiniteLossHook',
        ...                                       action='skip'))
    """

    priority = 'ABOVE_NORMAL'  # before CheckpointHook saves anything
    ACTIONS = ('stop', 'skip')

    def __init__(self, action: str = 'stop',
                 max_consecutive_skips: int = 10) -> None:
        if action not in self.ACTIONS:
            raise ValueError(
                f'action must be one of {self.ACTIONS}, got {action!r}')
        if (not isinstance(max_consecutive_skips, int)
                or isinstance(max_consecutive_skips, bool)
                or max_consecutive_skips <= 0):
            raise ValueError('max_consecutive_skips must be a positive int, '
                             f'got {max_consecutive_skips!r}')
        self.action = action
        self.max_consecutive_skips = max_consecutive_skips
        self._dropped_step = False
        self._consecutive = 0
        self._handles: list = []
        self._buffers: Optional[List[torch.Tensor]] = None

    def before_train(self, runner) -> None:
        for optimizer in _optimizers(runner.optim_wrapper):
            self._handles.append(
                optimizer.register_step_pre_hook(self._check_gradients))

    def after_train(self, runner) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _check_gradients(self, optimizer, args, kwargs) -> None:
        params = [p for group in optimizer.param_groups
                  for p in group['params'] if p.grad is not None]
        if not _all_finite([p.grad for p in params]):
            self._dropped_step = True
            for p in params:  # optimizers skip parameters without gradient
                p.grad = None

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        if self.action == 'skip':
            self._buffers = [b.detach().clone()
                             for b in unwrap_model(runner.model).buffers()]

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        loss = outputs.get('loss') if isinstance(outputs, dict) else None
        loss_value = None if loss is None else float(
            torch.as_tensor(loss).detach().float().sum())
        bad_loss = loss_value is not None and not math.isfinite(loss_value)
        bad = bad_loss or self._dropped_step
        if is_distributed():  # every rank must take the same decision
            flag = torch.tensor(float(bad))
            all_reduce(flag, op='max')
            bad = bool(flag.item())
        dropped, self._dropped_step = self._dropped_step, False
        if not bad:
            self._consecutive = 0
            return
        iteration = runner.iter + 1
        what = (f'the loss is {loss_value}' if bad_loss else
                'the gradients are not finite' if dropped else
                'another process met a non-finite loss or gradient')
        self._consecutive += 1
        if (self.action == 'skip'
                and self._consecutive <= self.max_consecutive_skips):
            for optimizer in _optimizers(runner.optim_wrapper):
                optimizer.zero_grad(set_to_none=True)  # accumulated ones too
            for buffer, saved in zip(unwrap_model(runner.model).buffers(),
                                     self._buffers or []):
                buffer.copy_(saved)
            print_log(
                f'FiniteLossHook: iteration {iteration}: {what}; this step '
                'is skipped (weights, optimizer state and buffers '
                f'unchanged), {self._consecutive} in a row.',
                logger='current', level=logging.WARNING)
            return
        advice = ("Lower the learning rate, check the data, or set "
                  "default_hooks.finite_loss.action='skip'.")
        if self.action == 'skip':
            what += (f' ({self._consecutive} bad iterations in a row, more '
                     'than max_consecutive_skips='
                     f'{self.max_consecutive_skips})')
            advice = 'Lower the learning rate or check the data.'
        raise NonFiniteError(
            f'Iteration {iteration}: {what}. Training stopped before that '
            f'step changed the weights; {last_good_checkpoint(runner)}. {advice}')
