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


def test_verdict_compares_pad_with_the_regular_net_and_the_fixed_one():
    won = main_job.verdict(runs(regular=20.0, **{'fixed-d4': 21.0},
                                PAD=23.5))
    assert 'PAD 23.50 vs fixed-d4 21.00 mIoU: +2.50, spread 1.00' in won
    assert 'PAD 23.50 vs regular 20.00 mIoU: +3.50' in won
    assert 'PAD beats both the regular network and the best fixed' in won
    matched = main_job.verdict(runs(regular=18.0, **{'fixed-d4': 22.0},
                                    PAD=21.5))
    assert 'PAD wins by more than the spread' in matched  # vs regular
    assert 'within the spread over seeds' in matched  # vs fixed-d4
    assert 'matches the best fixed dilation within it' in matched
    lost = main_job.verdict(runs(regular=18.0, **{'fixed-d4': 24.0},
                                 PAD=21.0))
    assert 'PAD loses to fixed-d4 by more than the spread' in lost
    assert lost.endswith('PAD loses to the best fixed dilation by more than '
                         'the spread.')
    flat = main_job.verdict(runs(regular=21.0, **{'fixed-d4': 21.5},
                                 PAD=21.2))
    assert 'does not show that PAD helps' in flat


def test_discriminates_weighs_the_fixed_gap_against_the_spread():
    apart = main_job.discriminates(runs(regular=20.0, **{'fixed-d4': 23.0},
                                        PAD=0.0))
    assert '+3.00, 3.0 x the spread (1.00)' in apart
    assert 'tells models apart' in apart
    close = main_job.discriminates(runs(regular=20.0, **{'fixed-d4': 20.5},
                                        PAD=0.0))
    assert 'cannot tell models apart' in close


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
        (n, s) for n in ('regular', 'fixed-d4', 'PAD') for s in (0, 1))
    table = open(work / 'results.md').read()
    for name in ('| regular | 2 |', '| fixed-d4 | 2 |', '| PAD | 2 |'):
        assert name in table
    assert 'PAD: share of training pixels per dilation' in table
    assert 'backbone.layer1.1.conv2' in table
    assert 'Benchmark: fixed-d4' in table and 'Verdict (mean of 2 seeds)' in table
    assert os.listdir(work / 'dilation_maps')
    assert '| entropy | prior_grad_norm |' in table
    assert 'Spearman rho of expected dilation vs sqrt(object area)' in table
    sizes = json.load(open(work / 'size_correlation.json'))
    assert 'backbone.layer1.0.conv1' in sizes
    assert all(-1 <= r['rho'] <= 1 or r['rho'] != r['rho']  # NaN: constant
               for r in sizes.values())
    # the fixed-dilation model really ran with dilation 4 in layer1 (the
    # config tools/train.py dumped into its work directory), on the rings
    dumped = Config.fromfile(
        work / 'fixed-d4' / 'seed0' / 'fcn_r18w16-layer1_1xb8-2k_rings-96x96.py')
    assert tuple(dumped.model.backbone.dilations) == (4, )
    assert dumped.train_dataloader.dataset.data_root == str(
        tmp_path / 'data' / 'VOC2012')
    assert 'Iter(train)' in open(work / 'PAD' / 'seed1' / 'run.log').read()
