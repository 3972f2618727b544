"""``SafeCheckpointHook``: MMEngine's ``CheckpointHook`` that a kill, a full
disk or a NaN cannot turn into a broken run. See docs/reliability.md."""
import glob
import os
import os.path as osp
from collections import deque
from typing import Optional

import mmengine
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS
from mmengine.runner.checkpoint import find_latest_checkpoint

from padseg.errors import NonFiniteError
from ..checkpoint import PART_SUFFIX, check_checkpoint, write_atomically

__all__ = ['SafeCheckpointHook', 'last_good_checkpoint']

#: The one private CheckpointHook method this hook overrides (see its docs).
_SAVE_STEP = '_save_checkpoint_with_step'


def _last_checkpoint(work_dir: str) -> Optional[str]:
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return None
    with open(pointer) as f:
        return f.read().strip() or None


def last_good_checkpoint(runner) -> str:
    """Where a stopped run can resume from, as a sentence."""
    last = _last_checkpoint(runner.work_dir)
    if last is None:
        return 'no checkpoint has been saved yet'
    return (f'the last good checkpoint is {last} (resume with tools/train.py '
            'CONFIG --resume)')


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """``CheckpointHook`` that a kill, a full disk or a NaN cannot turn into a
    broken run. Same arguments as MMEngine's ``CheckpointHook``.

    Differences from the stock hook:

    * each checkpoint is written to ``<name>.part`` and renamed into place,
      then ``last_checkpoint`` likewise, so the pointer always names a
      complete file (local ``out_dir`` with default ``backend_args``; other
      backends keep the stock in-place write, with a warning);
    * with ``max_keep_ckpts`` the expired checkpoint is deleted only after
      the new checkpoint and the pointer are written, never the file the
      pointer names (the stock hook deletes first, so ``max_keep_ckpts=1``
      plus a kill during the save left nothing to resume from);
    * stale ``.part`` files of a killed run are removed when training starts;
    * a checkpoint whose weights or buffers are not finite is not written:
      training stops with :class:`NonFiniteError`, naming the tensors and
      the last good checkpoint;
    * the checkpoint the run will load (``--resume``, ``load_from``, the
      checkpoint of ``test.py``) is checked before MMEngine reads it
      (:func:`check_checkpoint`), under padseg's tools and the stock ones.

    One private MMEngine method stays overridden, on purpose:
    ``CheckpointHook._save_checkpoint_with_step``, the one place where the
    regular and the best checkpoints' file, the ``last_checkpoint`` pointer
    and the pruning of expired files meet, so the only place where "delete
    after the new file and the pointer are written" can be ordered without
    copying the parent's scheduling (``interval``, ``save_last``,
    ``save_best``, ``save_begin``). Building the hook checks that the
    installed MMEngine still has it and names the version if not; the tests
    run on MMEngine 0.10.7 and onedl-mmengine 0.10.12.

    Example:
        >>> default_hooks = dict(checkpoint=dict(
        ...     type='SafeCheckpointHook', by_epoch=False, interval=500,
        ...     max_keep_ckpts=2))
    """

    def __init__(self, *args, **kwargs) -> None:
        if not callable(getattr(CheckpointHook, _SAVE_STEP, None)):
            raise RuntimeError(
                f'SafeCheckpointHook needs CheckpointHook.{_SAVE_STEP} of '
                f'MMEngine, which mmengine {mmengine.__version__} does not '
                'have; use the stock CheckpointHook with this MMEngine, or a '
                'version padseg supports (padseg.stack)')
        super().__init__(*args, **kwargs)
        for name in ('interval', 'max_keep_ckpts'):  # <= 0: last / keep all
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f'{name} must be an int, got {value!r}')
        for name in ('by_epoch', 'save_optimizer', 'save_param_scheduler',
                     'save_last'):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f'{name} must be a bool, got {getattr(self, name)!r}')
        out_dir = '' if self.out_dir is None else str(self.out_dir)
        self.atomic = (self.backend_args is None
                       and self.file_client_args is None
                       and '://' not in out_dir)
        if self.atomic:
            self.backend_args = dict(backend='atomic_local')

    def before_run(self, runner) -> None:
        super().before_run(runner)
        # Runner.train/val/test call before_run, then load_or_resume: the
        # same choice of file as load_or_resume makes, read from the
        # runner's public config (Runner.from_cfg takes load_from and resume
        # from it; a Runner built without a config has none to check here).
        path = runner.cfg.get('load_from')
        if runner.cfg.get('resume', False) and path is None:
            path = find_latest_checkpoint(runner.work_dir)
        if path is not None and '://' not in str(path):
            check_checkpoint(str(path))

    def before_train(self, runner) -> None:
        # The parent's pruning of expired checkpoints is replaced by the
        # guarded one below.
        max_keep, self.max_keep_ckpts = self.max_keep_ckpts, -1
        try:
            super().before_train(runner)
        finally:
            self.max_keep_ckpts = max_keep
        if not self.atomic:
            runner.logger.warning(
                f'SafeCheckpointHook: out_dir {self.out_dir} is not a local '
                'folder with default backend_args, so checkpoints are '
                'written in place (only last_checkpoint is written '
                'atomically).')
        if is_main_process():
            self._remove_part_files(runner)
        if self.max_keep_ckpts > 0:
            kept = list(runner.message_hub.get_info('keep_ckpt_ids', []))
            while len(kept) > self.max_keep_ckpts:
                self._remove_checkpoint(runner, kept.pop(0))
            self.keep_ckpt_ids = deque(kept, self.max_keep_ckpts)

    def _remove_part_files(self, runner) -> None:
        folders = {runner.work_dir}
        if self.atomic:
            folders.add(str(self.out_dir))
        for folder in folders:
            for part in glob.glob(osp.join(folder, '*' + PART_SUFFIX)):
                os.remove(part)
                runner.logger.warning(
                    f'Removed {part}, left by a run killed while saving.')

    def _remove_checkpoint(self, runner, step) -> None:
        if not is_main_process():
            return
        path = self.file_backend.join_path(self.out_dir,
                                           self.filename_tmpl.format(step))
        last = _last_checkpoint(runner.work_dir)
        if last is not None and osp.abspath(last) == osp.abspath(path):
            runner.logger.warning(
                f'Keeping {path}: last_checkpoint names it.')
            return
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):  # deepspeed checkpoints
            self.file_backend.rmtree(path)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        expired = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                expired = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            # before saving, so that the checkpoint records itself as kept
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        write_atomically(
            osp.join(runner.work_dir, 'last_checkpoint'),
            str(self.last_ckpt).encode('utf-8'))
        if expired is not None:
            self._remove_checkpoint(runner, expired)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        bad = [
            name for name, value in checkpoint.get('state_dict', {}).items()
            if torch.is_tensor(value) and value.is_floating_point()
            and not bool(torch.isfinite(value).all())
        ]
        if bad:
            shown = ', '.join(bad[:5]) + (' ...' if len(bad) > 5 else '')
            raise NonFiniteError(
                f'Iteration {checkpoint["meta"].get("iter")}: {len(bad)} '
                f'tensors of the model are not finite ({shown}); not saving '
                f'a checkpoint. Training stopped; {last_good_checkpoint(runner)}.')
