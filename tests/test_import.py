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
