"""Checkpoint I/O: written atomically, checked before loading, loaded under
PyTorch's safe loading.

* **Writing.** :func:`write_atomically` writes ``<name>.part``, fsyncs it and
  renames it into place; :class:`AtomicLocalBackend` (``'atomic_local'``) is
  MMEngine's ``LocalBackend`` doing so, used by ``SafeCheckpointHook``.
* **Reading.** :func:`checkpoint_problem` says what is wrong with a file
  (empty, truncated, a CRC-32 error in a member, not a checkpoint);
  :func:`check_checkpoint` raises an error naming the file, the problem and
  the newest complete checkpoint next to it; :func:`load_local_checkpoint`
  is MMEngine's loader for local paths with that check, installed by
  :func:`install_checkpoint_guards` (padseg's tools call it; importing
  padseg does not).
* **Safe loading.** Since torch 2.6, ``torch.load`` defaults to
  ``weights_only=True`` and refuses every global it does not know; mmengine
  0.10.7 calls it without the argument, so ``--resume``, ``load_from`` and
  ``tools/test.py`` fail on the checkpoints mmengine itself writes: its
  message hub pickles ``HistoryBuffer`` objects that hold numpy arrays, and a
  dict of ``HistoryBuffer``'s statistics methods, which pickle as
  ``getattr(HistoryBuffer, 'min')``. :func:`allow_mmengine_checkpoints`
  (called on ``import padseg``: the one global change it makes, which the
  stock mmseg tools need) allow-lists exactly these — nothing else.
  ``getattr`` itself is *not* allowed: the name resolves to
  :func:`history_buffer_method`, which only hands out ``HistoryBuffer``'s
  registered statistics methods (asked through its public ``statistics``).
"""
import glob
import os
import os.path as osp
import pickle
import zipfile
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmengine.fileio import LocalBackend, register_backend
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner import CheckpointLoader

from padseg.errors import UnreadableFileError

__all__ = [
    'PART_SUFFIX', 'write_atomically', 'AtomicLocalBackend',
    'checkpoint_problem', 'newest_complete_checkpoint', 'check_checkpoint',
    'load_local_checkpoint', 'install_checkpoint_guards',
    'MMENGINE_CHECKPOINT_GLOBALS', 'allow_mmengine_checkpoints',
    'history_buffer_method'
]

PART_SUFFIX = '.part'


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
    # again before each load: a loader that allow-lists the same objects
    # inside torch.serialization.safe_globals (onedl-mmengine's) removes
    # them from torch's list when it leaves that block
    allow_mmengine_checkpoints()
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
# Safe loading of MMEngine's own checkpoint objects.
# --------------------------------------------------------------------------
def _numpy_globals() -> list:
    core = getattr(np, '_core', None) or np.core
    entries = [np.ndarray, np.dtype]
    # numpy 2 pickles name ``numpy._core``, numpy 1 ``numpy.core``: accept both
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        entries.append((core.multiarray._reconstruct, f'{module}._reconstruct'))
        entries.append((core.multiarray.scalar, f'{module}.scalar'))
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:  # numpy >= 1.25 pickles dtype classes by name
        entries += [getattr(dtypes, name) for name in dir(dtypes)
                    if name.endswith('DType')]
    return entries


def _is_statistic(name: str) -> bool:
    """Whether ``name`` is one of ``HistoryBuffer``'s registered statistics,
    asked through its public ``statistics()`` (KeyError for any other)."""
    try:
        HistoryBuffer([0.0], [1]).statistics(name)
    except KeyError:
        return False
    except TypeError:  # a registered statistic that needs arguments
        return True
    return True


def history_buffer_method(owner, name: str):
    """``getattr`` as the unpickler may use it: only
    ``HistoryBuffer.<registered statistics method>``."""
    if owner is HistoryBuffer and not name.startswith('_') and \
            hasattr(HistoryBuffer, name) and _is_statistic(name):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({owner!r}, {name!r}); safe loading '
        'only allows the statistics methods of mmengine\'s HistoryBuffer')


MMENGINE_CHECKPOINT_GLOBALS = [
    HistoryBuffer, (history_buffer_method, 'builtins.getattr')
] + _numpy_globals()


def allow_mmengine_checkpoints() -> None:
    """Allow-list :data:`MMENGINE_CHECKPOINT_GLOBALS` for ``torch.load``."""
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is not None:  # torch < 2.4 loads them without being asked
        add(MMENGINE_CHECKPOINT_GLOBALS)
