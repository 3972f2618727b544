"""``benchmarks/gpu_check.py``, the one command a lent GPU machine runs,
proven here first: its small mode on CPU tensors, in a Python that sees what
the GPU machine's image has (torch, triton, torchvision, numpy and the wheels
of ``benchmarks/gpu_prepare.sh``; this environment's mmcv, mmengine, mmseg
and mmpretrain hidden). It passes on the paths as they are and fails on a
deliberately wrong output, gradient and argmax."""
import json
import os
import subprocess
import sys

import pytest

from helpers import REPO
from helpers.gpu_image import install_prepared_wheels, run_as_on_gpu_image

CHECK = os.path.join('benchmarks', 'gpu_check.py')


@pytest.fixture(scope='module')
def gpu_site(tmp_path_factory):
    return install_prepared_wheels(str(tmp_path_factory.mktemp('gpu_image')))


def test_prepared_wheels_are_few_pure_and_small(gpu_site, tmp_path):
    wheels = os.path.join(os.path.dirname(gpu_site), 'wheels')
    names = os.listdir(wheels)
    assert all(n.endswith('-none-any.whl') for n in names), names
    assert sum(os.path.getsize(os.path.join(wheels, n))
               for n in names) < 8 * 2**20
    assert {n.split('-')[0] for n in names} >= {'mmengine', 'mmcv_lite'}


def test_the_hidden_stack_is_really_hidden(gpu_site, tmp_path):
    probe = tmp_path / 'probe.py'
    probe.write_text(
        'import mmengine, mmcv\n'
        'print(mmengine.__file__, mmcv.__file__)\n'
        'try:\n    import mmseg\nexcept ModuleNotFoundError:\n'
        '    print("no mmseg")\n'
        'try:\n    import mmcv.ops\nexcept ImportError:\n'
        '    print("no mmcv.ops")\n')
    done = run_as_on_gpu_image(gpu_site, str(probe), timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert all(path.startswith(gpu_site) for path in lines[0].split())
    assert lines[1:] == ['no mmseg', 'no mmcv.ops']


def test_small_check_passes_on_the_gpu_image_stand_in(gpu_site, tmp_path):
    done = run_as_on_gpu_image(gpu_site, CHECK, str(tmp_path), '--small')
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / 'gpu_check.json').read_text())
    assert report['failures'] == [] and report['timed_out'] == []
    phases = report['phases']
    # 2 geometries x 4 precisions x 2 memory formats
    assert len(phases['correctness']) == 16
    assert all(case['status'] == 'pass' for case in phases['correctness'])
    errors = phases['correctness'][0]['errors']
    assert set(errors) == {f'{step} {what}' for step in ('soft', 'hard')
                           for what in ('forward', 'grad_x', 'grad_weight',
                                        'grad_bias', 'grad_probs')
                           } | {'argmax'}
    layers = phases['layer']
    assert [case['name'] for case in layers[:2]] == [
        'bf16 nchw C16 H8 d1', 'bf16 nchw C16 H8 d2']
    assert {case['name'].split()[1] for case in layers} == {'nchw',
                                                           'channels_last'}
    for step in ('soft', 'hard', 'argmax'):
        timed = layers[0][step]
        assert set(timed['ratio']) == {'conv', 'reference', 'columns',
                                       'columns64'}
        assert timed['rounds'] == 3
        for entry in timed['ratio'].values():
            assert entry['q1'] <= entry['median'] <= entry['q3']
    names = [case['name'] for case in phases['network']]
    assert names == [f'{layout} {what}' for layout in ('nchw',
                                                       'channels_last')
                     for what in ('agreement', 'training step',
                                  'inference step')]
    assert set(report['seconds']) == {'a', 'b', 'c'}
    text = (tmp_path / 'gpu_check.txt').read_text()
    assert 'c. ResNet' in text and 'phase b:' in text
    profile = (tmp_path / 'gpu_profile.txt').read_text()
    assert all(f'soft training step: {name}' in profile
               for name in ('conv', 'reference', 'columns'))


def test_a_wrong_output_gradient_or_argmax_fails_the_check(gpu_site,
                                                           tmp_path):
    done = run_as_on_gpu_image(gpu_site, CHECK, str(tmp_path), '--small',
                               '--phases', 'a', '--inject-error')
    assert done.returncode == 1, done.stdout[-3000:]
    report = json.loads((tmp_path / 'gpu_check.json').read_text())
    assert len(report['failures']) == 16
    for failure in report['failures']:
        for part in ('soft forward off by', 'hard forward off by',
                     'soft grad_weight off by', 'hard grad_weight off by',
                     'argmax off by'):
            assert part in failure, failure


def test_without_a_gpu_the_full_check_refuses_clearly(tmp_path):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='')
    done = subprocess.run([sys.executable, CHECK, str(tmp_path)], cwd=REPO,
                          env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2
    assert 'no CUDA GPU here' in done.stderr
    done = subprocess.run([sys.executable, CHECK, str(tmp_path), '--small',
                           '--phases', 'ax'], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and '--phases' in done.stderr
