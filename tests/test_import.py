"""``import padseg`` registers everything and does not need mmpretrain or
torchvision."""
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BLOCK_AND_IMPORT = r'''
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('mmpretrain', 'torchvision'):
            raise ImportError(f'{name} blocked for this test')
sys.meta_path.insert(0, Block())
import padseg
from mmengine.registry import MODELS, HOOKS
from mmseg.registry import MODELS as SEG_MODELS
assert MODELS.get('PAD') is padseg.ops.PADConv2d
assert HOOKS.get('TauAnnealingHook') is not None
assert SEG_MODELS.get('PADResNetV1c') is not None
assert 'mmpretrain' not in sys.modules and 'torchvision' not in sys.modules
print('ok')
'''


def test_import_without_mmpretrain_and_torchvision():
    env = dict(os.environ, PYTHONPATH=REPO)
    out = subprocess.run([sys.executable, '-c', BLOCK_AND_IMPORT], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith('ok')


SNAPSHOT_AND_IMPORT = r'''
import json, logging, os, sys, warnings
import numpy as np, torch
from mmengine.fileio.backends import registry_utils
from mmengine.config.utils import MODULE2PACKAGE
from mmengine.runner import CheckpointLoader
from mmcv.transforms import LoadImageFromFile
from mmseg.datasets.transforms import LoadAnnotations
# what a program that reads padseg's configs has imported already: the stack
# (its own imports change warnings filters and import hooks)
import mmcv.ops, mmseg.models, mmpretrain.models  # noqa: E401


def state():
    return dict(
        schemes={k: repr(v) for k, v in CheckpointLoader._schemes.items()},
        backends=sorted(registry_utils.backends),
        prefixes={k: repr(v)
                  for k, v in registry_utils.prefix_to_backends.items()},
        packages=dict(MODULE2PACKAGE),
        safe_globals=sorted(map(repr,
                                torch.serialization.get_safe_globals())),
        dtype=str(torch.get_default_dtype()),
        threads=torch.get_num_threads(),
        grad=torch.is_grad_enabled(),
        deterministic=torch.are_deterministic_algorithms_enabled(),
        cudnn=[torch.backends.cudnn.benchmark,
               torch.backends.cudnn.deterministic],
        numpy_err=np.geterr(),
        warnings=[repr(f) for f in warnings.filters],
        loggers={n: logging.getLogger(n).level for n in
                 ('', 'torch', 'mmengine', 'py.warnings')},
        environ=dict(os.environ),
        loaders=[repr(LoadImageFromFile.transform),
                 repr(LoadAnnotations._load_seg_map)],
        meta_path=[type(f).__name__ for f in sys.meta_path],
    )


before = state()
import padseg  # noqa: E402
after = state()
print(json.dumps(dict(before=before, after=after)))
'''


def test_import_changes_nothing_global_but_registration():
    """``import padseg`` (as ``custom_imports`` does it, in a process that
    has imported the OpenMMLab stack, as such a process has) leaves MMEngine's
    checkpoint loaders, torch's and numpy's settings, warnings, loggers, the
    environment and the stock transforms as it found them. What it may add:
    padseg's own names (the ``padseg::`` config package, the
    ``atomic_local`` file backend) and the documented allow-list of
    MMEngine's checkpoint objects for safe loading."""
    import json
    env = dict(os.environ, PYTHONPATH=REPO)
    out = subprocess.run([sys.executable, '-c', SNAPSHOT_AND_IMPORT],
                         env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    states = json.loads(out.stdout.strip().splitlines()[-1])
    before, after = states['before'], states['after']
    assert after['packages'] == dict(before['packages'], padseg='padseg')
    assert after['backends'] == sorted(before['backends'] + ['atomic_local'])
    assert set(before['safe_globals']) <= set(after['safe_globals'])
    added = set(after['safe_globals']) - set(before['safe_globals'])
    assert added and all('numpy' in g or 'HistoryBuffer' in g
                         or 'history_buffer_method' in g for g in added)
    for key in ('packages', 'backends', 'safe_globals'):
        del before[key], after[key]
    assert after == before
