"""Training that survives kills, damaged files and bad numbers.

* **Kills.** :class:`SafeCheckpointHook` (a drop-in ``CheckpointHook``)
  writes every checkpoint and the ``last_checkpoint`` pointer to
  ``<name>.part`` and renames it into place, so whatever ``last_checkpoint``
  names is complete; it deletes an expired checkpoint (``max_keep_ckpts``)
  only after the new one and the pointer are in place, and never the one the
  pointer names. A run killed at any moment resumes with ``--resume`` from the
  last complete checkpoint.
* **Damaged files.** Checkpoints loaded by path (``--resume``, ``load_from``,
  ``tools/test.py``, ``init_cfg=dict(type='Pretrained')``) are checked first
  (empty, truncated, CRC-32 of every member) and any failure raises
  :class:`UnreadableFileError` naming the file, what is wrong, and the newest
  complete checkpoint next to it: through :func:`install_checkpoint_guards`
  (padseg's tools call it) for every load, and through
  :class:`SafeCheckpointHook` for ``--resume`` and ``load_from`` under any
  tool. :class:`UnreadableFilesHook` makes the stock image and label-map
  loaders of a run's datasets name the file they cannot read.
* **Bad numbers.** :class:`FiniteLossHook` stops training before a
  non-finite loss or gradient reaches the weights (or skips that step), and
  :class:`SafeCheckpointHook` refuses to save non-finite weights.

Importing this module registers the hooks in MMEngine's root registry
(visible under the mmseg and mmpretrain scopes) and the ``'atomic_local'``
file backend, and changes nothing else: configs and tools switch the guards
on explicitly.
"""
import glob
import logging
import math
import os
import os.path as osp
import zipfile
from collections import deque
from typing import List, Optional, Sequence

import torch
from mmcv.transforms import LoadImageFromFile
from mmengine.dist import all_reduce, is_distributed, is_main_process
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from mmengine.runner import BaseLoop, CheckpointLoader
from mmengine.runner.checkpoint import find_latest_checkpoint
from mmseg.datasets.transforms import LoadAnnotations

__all__ = [
    'UnreadableFileError', 'NonFiniteError', 'checkpoint_problem',
    'load_local_checkpoint', 'install_checkpoint_guards',
    'newest_complete_checkpoint', 'write_atomically', 'AtomicLocalBackend',
    'SafeCheckpointHook', 'FiniteLossHook', 'UnreadableFilesHook',
    'name_unreadable_files'
]

PART_SUFFIX = '.part'


class UnreadableFileError(OSError):
    """A checkpoint, image or label map that exists but cannot be used; the
    message names the file and what is wrong with it."""


class NonFiniteError(RuntimeError):
    """Training met a non-finite loss, gradient or weight."""


# --------------------------------------------------------------------------
# Writing: temporary file, fsync, atomic rename.
# --------------------------------------------------------------------------
def write_atomically(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` is never half-written.

    The bytes go to ``path + '.part'``, are flushed to disk, and the file is
    renamed over ``path`` (``os.replace`` is atomic on POSIX and Windows). A
    process killed at any point leaves either the old ``path`` or the new one,
    plus at most a stale ``.part`` file.
    """
    part = path + PART_SUFFIX
    with open(part, 'wb') as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(part, path)
    try:  # make the rename itself durable (not possible on every OS)
        fd = os.open(osp.dirname(osp.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


class AtomicLocalBackend(LocalBackend):
    """MMEngine's ``LocalBackend`` whose ``put``/``put_text`` go through
    :func:`write_atomically`. Registered as ``'atomic_local'``; used only
    where asked for with ``backend_args=dict(backend='atomic_local')``."""

    def put(self, obj: bytes, filepath) -> None:
        os.makedirs(osp.dirname(osp.abspath(filepath)), exist_ok=True)
        write_atomically(str(filepath), obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        self.put(obj.encode(encoding), filepath)


register_backend('atomic_local', AtomicLocalBackend)


# --------------------------------------------------------------------------
# Reading checkpoints: diagnose before torch.load, name the file on failure.
# --------------------------------------------------------------------------
def checkpoint_problem(path: str) -> Optional[str]:
    """What is wrong with the checkpoint file ``path``, or None.

    Checks that it exists and can be read, is not empty, and — for PyTorch's
    zip format — has its zip directory (a cut-off file has not) and passes
    the CRC-32 check of every member (a flipped byte in a tensor would
    otherwise load silently). Legacy (pre-1.6, non-zip) pickles are accepted
    unchecked; ``torch.load`` judges them.
    """
    if not osp.exists(path):
        return 'the file does not exist'
    if not osp.isfile(path):
        return 'it is not a file'
    try:
        size = osp.getsize(path)
        with open(path, 'rb') as f:
            head = f.read(4)
    except OSError as exc:
        return f'it cannot be read ({exc.strerror or exc})'
    if size == 0:
        return 'the file is empty (0 bytes)'
    if not zipfile.is_zipfile(path):
        if head.startswith(b'PK'):
            return (f'it is truncated ({size} bytes, the zip archive ends '
                    'before its directory): a save that was interrupted or '
                    'a copy that did not finish')
        if head[:1] == b'\x80':  # a pickle: PyTorch's legacy format
            return None
        return (f'it is not a PyTorch checkpoint (neither a zip archive nor '
                f'a pickle; it starts with {head!r})')
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.CRC == 0:  # saved without CRC-32 (crc32 option off)
                    continue
                with archive.open(info) as member:  # checks CRC at the end
                    while member.read(1 << 24):
                        pass
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        return f'it is corrupt ({size} bytes; {exc})'
    return None


def _checkpoint_candidates(folder: str) -> List[str]:
    """``*.pth`` files in ``folder``, newest first."""
    dated = []
    for path in glob.glob(osp.join(folder, '*.pth')):
        try:
            dated.append((osp.getmtime(path), path))
        except OSError:  # deleted meanwhile
            pass
    return [path for _, path in sorted(dated, reverse=True)]


def newest_complete_checkpoint(folder: str,
                               exclude: Sequence[str] = ()) -> Optional[str]:
    """The most recently written ``*.pth`` in ``folder`` that passes
    :func:`checkpoint_problem` as a zip checkpoint, or None."""
    excluded = {osp.abspath(p) for p in exclude}
    for candidate in _checkpoint_candidates(folder):
        if osp.abspath(candidate) in excluded:
            continue
        if zipfile.is_zipfile(candidate) and \
                checkpoint_problem(candidate) is None:
            return candidate
    return None


def _recovery_hint(path: str) -> str:
    folder = osp.dirname(osp.abspath(path))
    if not osp.isdir(folder):
        return ''
    earlier = newest_complete_checkpoint(folder, exclude=[path])
    if earlier is None:
        return f' No other complete checkpoint (*.pth) is in {folder}.'
    return (f' The newest complete checkpoint next to it is {earlier}; to '
            'resume training from it, run tools/train.py CONFIG --resume '
            f'--cfg-options load_from={earlier}')


def check_checkpoint(filename: str) -> str:
    """``filename`` (``~`` expanded) if it is a complete checkpoint file.

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        UnreadableFileError: it is empty, truncated or corrupt.
    Both name the file and the newest complete checkpoint next to it.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(
            f'checkpoint {filename} can not be found.' +
            _recovery_hint(filename))
    problem = checkpoint_problem(filename)
    if problem is not None:
        raise UnreadableFileError(
            f'cannot load checkpoint {filename}: {problem}.' +
            _recovery_hint(filename))
    return filename


def load_local_checkpoint(filename: str, map_location=None):
    """MMEngine's loader for local paths (``CheckpointLoader`` prefix ``''``),
    with the file checked first (:func:`check_checkpoint`) and every failure
    naming the file.

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        UnreadableFileError: it is empty, truncated, corrupt, or
            ``torch.load`` refuses it.
    """
    filename = check_checkpoint(filename)
    try:
        return torch.load(filename, map_location=map_location)
    except Exception as exc:
        text = str(exc).strip()
        first_line = text.splitlines()[0] if text else ''
        reason = f'{type(exc).__name__}: {first_line}'
        if 'Weights only load failed' in text:
            reason += (' — torch\'s safe loading refuses an object in it; '
                       'padseg allows only those of MMEngine checkpoints')
        raise UnreadableFileError(
            f'cannot load checkpoint {filename}: torch.load failed on it '
            f'({reason}).' + _recovery_hint(filename)) from exc


def install_checkpoint_guards() -> None:
    """Make :func:`load_local_checkpoint` MMEngine's loader for local paths,
    for every checkpoint this process loads by path (``--resume``,
    ``load_from``, ``init_cfg=dict(type='Pretrained')``, converters).

    padseg's tools call it; importing padseg does not, so a program that
    pulls padseg in through ``custom_imports`` keeps MMEngine's loader (its
    runs still get :class:`SafeCheckpointHook`'s check of ``--resume`` and
    ``load_from``). Calling it again changes nothing.
    """
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_local_checkpoint, force=True)


# --------------------------------------------------------------------------
# Hooks.
# --------------------------------------------------------------------------
def _last_checkpoint(work_dir: str) -> Optional[str]:
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return None
    with open(pointer) as f:
        return f.read().strip() or None


def _last_good(runner) -> str:
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

    Example:
        >>> default_hooks = dict(checkpoint=dict(
        ...     type='SafeCheckpointHook', by_epoch=False, interval=500,
        ...     max_keep_ckpts=2))
    """

    def __init__(self, *args, **kwargs) -> None:
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
        # same choice of file as load_or_resume makes.
        path = runner._load_from
        if runner._resume and path is None:
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
                f'a checkpoint. Training stopped; {_last_good(runner)}.')


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

    def _model(self, runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

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
                             for b in self._model(runner).buffers()]

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
            for buffer, saved in zip(self._model(runner).buffers(),
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
            f'step changed the weights; {_last_good(runner)}. {advice}')


# --------------------------------------------------------------------------
# Data loading that names the file.
# --------------------------------------------------------------------------
def _unreadable(kind: str, path: str, exc: Exception) -> OSError:
    if isinstance(exc, FileNotFoundError):
        return FileNotFoundError(f'{kind} {path} does not exist')
    what = f'{type(exc).__name__}: {exc}'.strip()
    if isinstance(exc, PermissionError):
        what = 'permission denied'
    elif '://' not in str(path) and osp.isfile(path):
        size = osp.getsize(path)
        what = ('the file is empty (0 bytes)' if size == 0 else
                f'it cannot be decoded ({size} bytes; truncated or not an '
                f'image? {what})')
    return UnreadableFileError(f'cannot load {kind} {path}: {what}')


class _NamingLoadImageFromFile(LoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` whose failures name the file and say what
    is wrong (the stock one gives a bare OpenCV assertion for an empty
    file). Not registered: :func:`name_unreadable_files` gives built
    loaders this class, so configs keep the stock type name."""

    def transform(self, results: dict) -> Optional[dict]:
        try:
            return super().transform(results)
        except Exception as exc:
            raise _unreadable('image', results['img_path'], exc) from exc


class _NamingLoadAnnotations(LoadAnnotations):
    """mmseg's ``LoadAnnotations`` whose failures to read the label map name
    the file (the stock one says ``'NoneType' object has no attribute
    'squeeze'`` or ``cannot identify image file <BytesIO>``)."""

    def _load_seg_map(self, results: dict) -> None:
        try:
            super()._load_seg_map(results)
        except AssertionError:  # reduce_zero_label mismatch: not the file
            raise
        except Exception as exc:
            raise _unreadable('label map', results['seg_map_path'],
                              exc) from exc


_NAMING_LOADERS = {
    LoadImageFromFile: _NamingLoadImageFromFile,
    LoadAnnotations: _NamingLoadAnnotations,
}
# where transforms and datasets keep what they wrap: Compose, RandomChoice,
# RandomApply (transforms), TestTimeAug (subroutines), a dataset (pipeline),
# dataset wrappers (dataset, datasets)
_CHILDREN = ('transforms', 'subroutines', 'pipeline', 'dataset', 'datasets')


def name_unreadable_files(node, _seen: Optional[set] = None) -> int:
    """Make every stock ``LoadImageFromFile`` / ``LoadAnnotations`` in
    ``node`` (a dataset, a dataset wrapper, a ``Compose`` or a transform)
    name the file it cannot read; return how many were changed.

    Only those objects change (their class becomes a subclass whose only
    difference is the error message); subclasses of the loaders, the
    registries and every other instance stay as they are.
    """
    seen = set() if _seen is None else _seen
    if id(node) in seen or isinstance(node, (str, bytes, dict)):
        return 0
    seen.add(id(node))
    if type(node) in _NAMING_LOADERS:
        node.__class__ = _NAMING_LOADERS[type(node)]
        return 1
    if isinstance(node, (list, tuple)):
        return sum(name_unreadable_files(child, seen) for child in node)
    return sum(
        name_unreadable_files(getattr(node, attr), seen)
        for attr in _CHILDREN if getattr(node, attr, None) is not None)


@HOOKS.register_module()
class UnreadableFilesHook(Hook):
    """Make the image and label-map loaders of the run's datasets name a
    file they cannot read: missing, empty, or not decodable.

    The stock loaders say ``!buf.empty()`` (an empty image) or ``cannot
    identify image file <BytesIO>`` (a damaged label map) without the file.
    Before the run, this hook turns the built ``LoadImageFromFile`` and
    ``LoadAnnotations`` of the train, val and test dataloaders into
    subclasses that raise ``FileNotFoundError`` / :class:`UnreadableFileError`
    naming the file and what is wrong (:func:`name_unreadable_files`).
    Configs keep the stock type names, so every API that edits pipelines by
    type name (``inference_model``, ``MMSegInferencer``, mmpretrain's
    inferencers) still finds them.

    Example:
        >>> default_hooks = dict(unreadable_files=dict(
        ...     type='UnreadableFilesHook'))
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        for name in ('_train_loop', '_val_loop', '_test_loop'):
            loop = getattr(runner, name, None)
            if not isinstance(loop, BaseLoop):  # not built: not run
                continue
            changed = name_unreadable_files(loop.dataloader.dataset)
            iterator = getattr(loop, 'dataloader_iterator', None)
            if changed and iterator is not None and \
                    loop.dataloader.num_workers > 0:
                _restart_workers(loop)


def _restart_workers(loop) -> None:
    """Start the DataLoader workers of an iteration-based loop again.

    IterBasedTrainLoop starts its workers when it is built, before any hook
    runs, so they hold the dataset as it was. No batch has been taken yet;
    the new workers read the same indices from the start.
    """
    loader = loop.dataloader
    sampler = getattr(loader, 'sampler', None)
    if hasattr(sampler, '_indices_of_rank'):
        # mmengine's InfiniteSampler yields from one generator made when it
        # was built; closing the old iterator would close that generator
        # too. A new one, from the same seed, gives the same indices.
        sampler.indices = sampler._indices_of_rank()
    # With persistent workers the DataLoader keeps its iterator and would
    # only reset it (same workers): drop it, so that new workers start.
    loader._iterator = None
    loop.dataloader_iterator = type(loop.dataloader_iterator)(loader)
