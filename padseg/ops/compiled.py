"""The optional compiled kernels of the PAD columns path.

``csrc/pad_columns.cpp`` fuses the per-candidate passes of
:mod:`padseg.ops.fast_paths` (mixing the candidates' columns, the
probabilities' gradient, the fold of the columns' gradient into the input's)
into one pass each, runs argmax evaluation (each pixel's columns picked at
its own candidate, the product, the output) in one call, and makes the
transposed copies (input, weight, output) in vector-register blocks. It is
built on first use with PyTorch's C++ extension loader (a C++ compiler and
``ninja`` needed, about a minute once) and kept in
``$PADSEG_CACHE/kernels`` (default ``~/.cache/padseg/kernels``), one library
per source version, Python and PyTorch installation.

Where they cannot be built (no compiler, no ``ninja``, a platform without
``fcntl``), padseg warns once, saying why, and the fast paths run in plain
PyTorch operations with the same results; ``PADSEG_COMPILED=0`` switches the
kernels off without a warning. Only float32 and float64 CPU tensors use
them.
"""
import hashlib
import importlib.util
import logging
import os
import shutil
import sys
import tempfile
import warnings
from types import ModuleType
from typing import Optional, Tuple

import torch

__all__ = ['kernels', 'compiled_enabled']

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'csrc',
                      'pad_columns.cpp')

_DTYPES = (torch.float32, torch.float64)
_state = {}


def compiled_enabled() -> bool:
    """``PADSEG_COMPILED`` is not ``0`` (read on every call)."""
    value = os.environ.get('PADSEG_COMPILED', '1').strip().lower()
    if value not in ('0', '1', 'false', 'true', 'no', 'yes', ''):
        raise ValueError(f'PADSEG_COMPILED={value!r}: use 1 (compiled PAD '
                         'kernels, the default) or 0 (plain PyTorch)')
    return value not in ('0', 'false', 'no')


def _flags() -> list:
    flags = ['-O3', '-fopenmp']
    # Vector instructions only where PyTorch itself found them.
    if torch.backends.cpu.get_cpu_capability() in ('AVX2', 'AVX512'):
        flags += ['-mavx2', '-mfma']
    return flags


def _library() -> Tuple[str, str]:
    """The module's name and path: one per source, flags, Python and
    PyTorch installation (its real path, so every clone's ``.venv`` link to
    one environment shares one build)."""
    with open(SOURCE, 'rb') as f:
        key = hashlib.sha256(f.read())
    key.update('\n'.join([
        sys.version, torch.__version__,
        os.path.realpath(os.path.dirname(torch.__file__)), *_flags()
    ]).encode())
    name = 'padseg_pad_columns_' + key.hexdigest()[:16]
    cache = os.environ.get('PADSEG_CACHE') or os.path.join(
        os.path.expanduser('~'), '.cache', 'padseg')
    return name, os.path.join(cache, 'kernels', name + '.so')


def _build() -> ModuleType:
    """Load the library, building it first (under a lock, in a temporary
    directory, then moved into place) if it is not there yet.

    ``cpp_extension.load`` has a build cache and lock of its own, but its
    lock is a file that a build killed midway (Ctrl-C, a CI timeout) leaves
    behind, and every later process then waits on it forever; ``flock`` is
    released by the kernel when the process dies. It also reruns ninja and
    rewrites the build files in every new process; a ready library here is
    one import.
    """
    import fcntl  # POSIX only: elsewhere the build fails and padseg falls back
    name, path = _library()
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(os.path.join(os.path.dirname(path), '.lock'), 'w') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time
            if not os.path.exists(path):
                return _compile(name, path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _compile(name: str, path: str) -> ModuleType:
    # Importing the loader logs that a CPU-only machine has no CUDA runtime.
    logger = logging.getLogger('torch.utils.cpp_extension')
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        from torch.utils import cpp_extension
    finally:
        logger.setLevel(level)
    if shutil.which('ninja') is None:
        # ninja from pip sits in its package's folder (and beside the
        # interpreter that installed it), off PATH unless an environment is
        # activated.
        try:
            import ninja
            folders = [ninja.BIN_DIR]
        except (ImportError, AttributeError):
            folders = []
        folders.append(os.path.dirname(sys.executable))
        for here in folders:
            if os.path.exists(os.path.join(here, 'ninja')):
                os.environ['PATH'] = here + os.pathsep + os.environ['PATH']
                break
    with tempfile.TemporaryDirectory(dir=os.path.dirname(path)) as work:
        module = cpp_extension.load(name, [SOURCE], extra_cflags=_flags(),
                                    extra_ldflags=['-fopenmp'],
                                    build_directory=work)
        os.replace(os.path.join(work, name + '.so'), path)
    return module


def kernels(dtype: Optional[torch.dtype] = None) -> Optional[ModuleType]:
    """The compiled kernels (built on the first call), or None: disabled,
    not buildable here (warned once, with the reason), or ``dtype`` not one
    they take."""
    if not compiled_enabled() or (dtype is not None and dtype not in _DTYPES):
        return None
    if 'module' not in _state:
        try:
            _state['module'] = _build()
        except Exception as error:  # any build failure: fall back
            _state['module'] = None
            warnings.warn(
                'padseg: the compiled PAD kernels could not be built '
                f'({type(error).__name__}: {str(error).strip()[:300]}); PAD '
                'layers run in plain PyTorch operations (same results, '
                'slower training). Set PADSEG_COMPILED=0 to silence this.')
    return _state['module']
