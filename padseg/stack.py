"""The OpenMMLab versions padseg supports, stated once, and the check that
``import padseg`` runs.

Like OpenMMLab's own packages, padseg's install requirements name neither
mmcv, mmengine nor mmseg (a user's build of mmcv must not be replaced, and
the maintained OneDL fork installs the same modules under other distribution
names). The supported ranges of each line are here; pyproject.toml's extras
``[openmmlab]`` and ``[onedl]`` repeat them (a test keeps them equal).
"""
import importlib
import re
from importlib import metadata
from typing import Dict, Optional, Tuple

__all__ = ['STACKS', 'check_stack', 'installed_version']

#: ``{line: {module: (distribution, lowest, below)}}``: versions
#: ``lowest <= v < below`` of each module, per line of the stack.
STACKS: Dict[str, Dict[str, Tuple[str, str, str]]] = {
    'openmmlab': {
        'mmcv': ('mmcv', '2.0.0', '2.2.0'),  # mmseg 1.2 asserts < 2.2.0
        'mmengine': ('mmengine', '0.8.3', '1.0.0'),
        'mmseg': ('mmsegmentation', '1.2.1', '2.0.0'),
    },
    'onedl': {
        'mmcv': ('onedl-mmcv', '2.3.0', '2.4.0'),
        'mmengine': ('onedl-mmengine', '0.10.12', '1.0.0'),
        'mmseg': ('onedl-mmsegmentation', '1.4.0', '2.0.0'),
    },
}


def _release(version: str) -> Tuple[int, ...]:
    """``'2.1.0rc4'`` -> ``(2, 1, 0)``: the leading release numbers."""
    match = re.match(r'\d+(\.\d+)*', version)
    return tuple(int(n) for n in match.group(0).split('.')) if match else ()


def installed_version(module: str) -> Optional[Tuple[str, str]]:
    """``(distribution, version)`` of what provides ``module``, read from
    the installed distributions (without importing the module); the module's
    ``__version__`` when no known distribution provides it (a source
    checkout); None when the module is not installed."""
    for line in STACKS.values():
        distribution = line[module][0]
        try:
            return distribution, metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    try:
        found = importlib.import_module(module)
    except ImportError:
        return None
    return module, getattr(found, '__version__', '0')


def _in_range(version: str, lowest: str, below: str) -> bool:
    return _release(lowest) <= _release(version) < _release(below)


def check_stack() -> None:
    """Raise ``ImportError`` naming the package, the version found and the
    supported ranges when mmcv, mmengine or mmseg is missing or outside
    every line's range."""
    for module in ('mmengine', 'mmcv', 'mmseg'):
        found = installed_version(module)
        ranges = ' or '.join(
            f'{dist} >={low},<{below} ({name})'
            for name, line in STACKS.items()
            for dist, low, below in [line[module]])
        if found is None:
            raise ImportError(f'padseg needs {module}: install {ranges} '
                              '(docs/install.md)')
        distribution, version = found
        if not any(_in_range(version, low, below)
                   for line in STACKS.values()
                   for _, low, below in [line[module]]):
            raise ImportError(
                f'padseg supports {ranges}; found {distribution} {version} '
                f'(module {module}). See docs/install.md for the two stacks.')
