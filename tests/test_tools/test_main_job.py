"""tools/main_job.py, README command 1: three models over seeds through the
real tools, a table of mean +- spread and a verdict that says plainly whether
PAD won by more than the spread."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

from mmengine.config import Config

from helpers import REPO

spec = importlib.util.spec_from_file_location(
    'main_job', osp.join(REPO, 'tools', 'main_job.py'))
main_job = importlib.util.module_from_spec(spec)
spec.loader.exec_module(main_job)


def runs(**means):
    """Three seeds per model at mean - 1, mean, mean + 1 (spread 1.0)."""
    return [dict(name=name, seed=s, mIoU=mean + s - 1)
            for name, mean in means.items() for s in range(3)]


def test_verdict_names_the_better_baseline_and_the_spread():
    won = main_job.verdict(runs(regular=20.0, **{'fixed-d2': 21.0},
                                PAD=23.5))
    assert 'PAD 23.50 vs fixed-d2 21.00' in won and '+2.50' in won
    assert 'spread 1.00' in won and 'PAD wins by more than the spread' in won
    tied = main_job.verdict(runs(regular=21.5, **{'fixed-d2': 21.0},
                                 PAD=22.0))
    assert 'vs regular 21.50' in tied and 'within the spread' in tied
    assert 'does not show that PAD beats a fixed dilation' in tied
    lost = main_job.verdict(runs(regular=24.0, **{'fixed-d2': 21.0},
                                 PAD=22.0))
    assert 'PAD loses to regular' in lost


def test_the_whole_job_on_a_tiny_schedule(tmp_path):
    """Every step of the job as a user runs it, two runs at a time: three
    models x two seeds, the table, the verdict and the dilation maps."""
    env = dict(os.environ, OMP_NUM_THREADS='1')
    work = tmp_path / 'job'
    done = subprocess.run(
        [sys.executable, 'tools/main_job.py', '--work-dir', str(work),
         '--data-root', str(tmp_path / 'data'), '--num-train', '4',
         '--num-val', '2', '--max-iters', '2', '--seeds', '0', '1',
         '--cfg-options', 'default_hooks.logger.interval=1'],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    out = done.stdout
    assert out.count('] PAD seed') == 2 and '[6/6]' in out
    results = json.load(open(work / 'results.json'))
    assert sorted((r['name'], r['seed']) for r in results) == sorted(
        (n, s) for n in ('regular', 'fixed-d2', 'PAD') for s in (0, 1))
    table = open(work / 'results.md').read()
    for name in ('| regular | 2 |', '| fixed-d2 | 2 |', '| PAD | 2 |'):
        assert name in table
    assert 'PAD: share of training pixels per dilation' in table
    assert 'backbone.layer4.0.conv1' in table
    assert ('within the spread' in table or 'wins by more' in table
            or 'loses to' in table)
    assert os.listdir(work / 'dilation_maps')
    assert '| entropy | prior_grad_norm |' in table
    assert 'Spearman rho of expected dilation vs sqrt(digit area)' in table
    sizes = json.load(open(work / 'size_correlation.json'))
    assert 'backbone.layer4.0.conv1' in sizes
    assert all(-1 <= r['rho'] <= 1 or r['rho'] != r['rho']  # NaN: constant
               for r in sizes.values())
    # the fixed-dilation model really ran with dilation 2 in layer4 (the
    # config tools/train.py dumped into its work directory)
    dumped = Config.fromfile(
        work / 'fixed-d2' / 'seed0' /
        'deeplabv3plus_r18w16-os8_1xb8-1k_digits-96x96.py')
    assert tuple(dumped.model.backbone.dilations) == (1, 1, 1, 2)
    assert 'Iter(train)' in open(work / 'PAD' / 'seed1' / 'run.log').read()
