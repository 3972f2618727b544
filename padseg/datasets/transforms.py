"""Data loading that names the file: the stock image and label-map loaders,
given a subclass whose failures say which file and what is wrong.
``UnreadableFilesHook`` applies :func:`name_unreadable_files` to a run's
datasets; configs keep the stock type names."""
import os.path as osp
from typing import Optional

from mmcv.transforms import LoadImageFromFile
from mmseg.datasets.transforms import LoadAnnotations

from padseg.errors import UnreadableFileError

__all__ = ['name_unreadable_files']


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

    def transform(self, results: dict) -> Optional[dict]:
        # mmseg's LoadAnnotations reads only the label map
        try:
            return super().transform(results)
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
