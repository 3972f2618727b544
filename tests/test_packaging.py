"""padseg as a package in a user's own environment: its metadata asks for
ranges of the stack, never exact versions; a built wheel carries the
configs where MMEngine finds them; a user's config inherits one with
``_base_ = 'padseg::<path>'``."""
import glob
import json
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
    assert '>=' in declared['torch'] and '>=' in declared['mmpretrain']
    core = {requirement_name(r) for r in project['dependencies']}
    assert 'mmpretrain' not in core and 'matplotlib' not in core


def test_openmmlab_is_not_required_by_name_and_extras_match_the_check():
    """OpenMMLab's convention: mmcv, mmengine and mmseg are no install
    requirement (installing padseg must not replace a user's mmcv, nor the
    OneDL fork's modules); the extras state padseg/stack.py's ranges."""
    from padseg.stack import STACKS
    with open(osp.join(REPO, 'pyproject.toml'), 'rb') as f:
        project = tomllib.load(f)['project']
    core = {requirement_name(r) for r in project['dependencies']}
    for line in STACKS.values():
        for distribution, _, _ in line.values():
            assert distribution not in core
    extras = project['optional-dependencies']
    for name, line in STACKS.items():
        assert sorted(extras[name]) == sorted(
            f'{dist}>={low},<{below}' for dist, low, below in line.values())


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


def test_a_dry_run_install_plans_padseg_alone(wheel, tmp_path):
    """pip's plan for the wheel in a user's environment holding the
    OpenMMLab stack (a fresh one that sees this one's packages, not the
    checkout) installs padseg and nothing else: no mmcv build, no mmseg over
    the user's."""
    import torch
    env = tmp_path / 'env'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(env)],
                   check=True, timeout=120)
    (site,) = glob.glob(str(env / 'lib' / 'python*' / 'site-packages'))
    stack_site = osp.dirname(osp.dirname(torch.__file__))
    with open(osp.join(site, 'stack.pth'), 'w') as f:
        f.write(stack_site + '\n')
    report = tmp_path / 'report.json'
    done = subprocess.run(
        [str(env / 'bin' / 'python'), '-m', 'pip', 'install', '--dry-run',
         '--no-index', '--find-links', osp.dirname(wheel), '--report',
         str(report), 'padseg'], capture_output=True, text=True,
        timeout=300, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    planned = [item['metadata']['name'] for item in
               json.loads(report.read_text())['install']]
    assert planned == ['padseg']
