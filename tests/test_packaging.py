"""padseg as a package in a user's own environment: its metadata asks for
ranges of the stack, never exact versions; a built wheel carries the
configs where MMEngine finds them; a user's config inherits one with
``_base_ = 'padseg::<path>'``."""
import glob
import os
import os.path as osp
import re
import subprocess
import sys
import tomllib
import zipfile

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
STACK = ('torch', 'mmcv', 'mmengine', 'mmsegmentation', 'mmpretrain')


def requirement_name(requirement: str) -> str:
    return re.split(r'[<>=!~\[; ]', requirement, maxsplit=1)[0].lower()


def test_metadata_declares_ranges_not_pins():
    with open(osp.join(REPO, 'pyproject.toml'), 'rb') as f:
        project = tomllib.load(f)['project']
    requirements = list(project['dependencies'])
    for extra in project['optional-dependencies'].values():
        requirements += extra
    assert not [r for r in requirements if '==' in r or '===' in r]
    declared = {requirement_name(r): r for r in requirements}
    for name in STACK:
        assert '>=' in declared[name], declared[name]
    assert '<2.2.0' in declared['mmcv']  # mmseg 1.2 asserts it
    core = {requirement_name(r) for r in project['dependencies']}
    assert 'mmpretrain' not in core and 'matplotlib' not in core


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp('wheel')
    subprocess.run(
        [sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
         '--no-build-isolation', '-w', str(out), REPO],
        check=True, timeout=300, capture_output=True)
    (path,) = glob.glob(str(out / 'padseg-*.whl'))
    return path


def test_wheel_carries_configs_and_kernel_source(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = [
        osp.relpath(p, REPO) for p in glob.glob(
            osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
    ]
    assert len(configs) > 80
    missing = [c for c in configs if f'padseg/.mim/{c}' not in names]
    assert not missing
    assert 'padseg/.mim/model-index.yml' in names
    assert 'padseg/ops/csrc/pad_columns.cpp' in names
    metadata = next(n for n in names if n.endswith('.dist-info/METADATA'))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    requires = [line for line in text.splitlines()
                if line.startswith('Requires-Dist:')]
    versions = [r.split(';')[0] for r in requires]  # not the extra markers
    assert requires and not [v for v in versions if '==' in v]
    assert 'Requires-Dist: torch>=2.1' in requires


USER_CONFIG = '''
_base_ = 'padseg::digits/deeplabv3plus_pad-r18w16-os8_1xb8-1k_digits-96x96.py'
model = dict(decode_head=dict(num_classes=7))
train_cfg = dict(max_iters=10)
'''

LOAD_AND_BUILD = r'''
import sys
import padseg
from mmengine.config import Config
from mmengine.registry import init_default_scope
cfg = Config.fromfile(sys.argv[1])
assert padseg.__file__.startswith(sys.argv[2]), padseg.__file__
assert cfg.model.decode_head.num_classes == 7
assert cfg.train_cfg.max_iters == 10
assert cfg.model.backbone.type == 'PADResNetV1c'
assert cfg.default_scope == 'mmseg'
init_default_scope(cfg.default_scope)
from mmseg.registry import MODELS
model = MODELS.build(cfg.model)
assert type(model).__name__ == 'EncoderDecoder'
assert type(model.backbone).__name__ == 'PADResNetV1c'
assert model.decode_head.num_classes == 7
print('ok')
'''


def test_user_config_inherits_from_the_installed_wheel(wheel, tmp_path):
    """The wheel installed on its own (not the checkout): a user's config
    with ``_base_ = 'padseg::...'`` loads, keeps its deltas and builds."""
    site = tmp_path / 'site'
    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps',
                    '--target', str(site), wheel], check=True, timeout=300,
                   capture_output=True)
    config = tmp_path / 'my_config.py'
    config.write_text(USER_CONFIG)
    env = dict(os.environ, PYTHONPATH=str(site))
    out = subprocess.run(
        [sys.executable, '-c', LOAD_AND_BUILD, str(config), str(site)],
        cwd=str(tmp_path), env=env, capture_output=True, text=True,
        timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith('ok')


def test_checkout_resolves_padseg_configs_too(tmp_path):
    """In .venv padseg is this checkout (a path install), whose
    ``padseg/.mim/configs`` links ``configs/``."""
    config = tmp_path / 'my_config.py'
    config.write_text(USER_CONFIG)
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    out = subprocess.run(
        [sys.executable, '-c', LOAD_AND_BUILD, str(config),
         osp.join(REPO, 'padseg')], cwd=str(tmp_path), env=env,
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
