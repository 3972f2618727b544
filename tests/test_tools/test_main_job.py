"""tools/main_job.py, README command 1: the fixed dilations and PAD over
seeds through the real tools on train / val / test splits, the best fixed
dilation chosen on val, and a verdict on test from the paired per-seed
difference and its t-interval."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import set_random_seed
from mmseg.registry import MODELS

from helpers import REPO

spec = importlib.util.spec_from_file_location(
    'main_job', osp.join(REPO, 'tools', 'main_job.py'))
main_job = importlib.util.module_from_spec(spec)
spec.loader.exec_module(main_job)


def recs(val=None, shares=None, **test_means):
    """Five seeds per model; test mIoU = mean + (-2, -1, 0, 1, 2) (sd 1.58)
    and val = test unless ``val`` gives a model's val mean."""
    val = val or {}
    out = []
    for name, mean in test_means.items():
        for s in range(5):
            test = mean + s - 2
            out.append(dict(name=name, seed=s, test=test,
                            val=val.get(name, mean) + s - 2,
                            shares=(shares or {}) if name == 'PAD' else {},
                            test_sizes={'<24px': test, '>=24px': test}))
    return out


def test_best_fixed_dilation_is_chosen_on_val_not_on_test():
    models = recs(val={'regular': 70, 'fixed-d2': 75, 'fixed-d4': 72},
                  regular=70, **{'fixed-d2': 71, 'fixed-d4': 80}, PAD=72)
    assert main_job.best_fixed(models) == 'fixed-d2'


def test_paired_interval_is_students_t_on_the_per_seed_differences():
    models = recs(regular=70, **{'fixed-d4': 80}, PAD=81)
    for r in models:  # PAD's gain differs by seed: +1, +2, +1, +2, +1.5
        if r['name'] == 'PAD':
            r['test'] = 80 + r['seed'] - 2 + (1, 2, 1, 2, 1.5)[r['seed']]
    p = main_job.paired(models, 'PAD', 'fixed-d4')
    diffs = np.array([1, 2, 1, 2, 1.5])
    half = 2.7764451 * diffs.std(ddof=1) / np.sqrt(5)  # t(0.975, 4)
    assert p['diffs'] == pytest.approx(diffs.tolist())
    assert p['mean'] == pytest.approx(1.5)
    assert (p['low'], p['high']) == pytest.approx((1.5 - half, 1.5 + half))
    text = main_job.interval_text('PAD', 'fixed-d4', p)
    assert '+1.50 mIoU, 95 % interval [+0.88, +2.12]' in text
    assert text.endswith('PAD is better.')


def test_verdict_says_not_distinguishable_when_the_interval_holds_zero():
    layers = {'layer1.0.conv1': {1: 0.5, 2: 0.3, 4: 0.2}}
    models = recs(regular=70, **{'fixed-d2': 75, 'fixed-d4': 80}, PAD=80,
                  shares=layers)
    for r in models:  # PAD - fixed-d4 per seed: -1, +1, -1, +1, 0
        if r['name'] == 'PAD':
            r['test'] += (-1, 1, -1, 1, 0)[r['seed']]
    text = main_job.verdict(models, 'fixed-d4')
    assert 'fixed-d4 chosen on val' in text
    assert 'not distinguishable (the interval holds 0)' in text
    assert 'PAD does not beat the best fixed dilation on test' in text
    assert '- [ ] PAD - best fixed >= +1.5 mIoU' in text
    # the benchmark discriminates (+10 against twice the spread)
    assert '- [x] the benchmark discriminates' in text
    assert '- [x] the PAD layers use more than one dilation' in text
    won = recs(regular=70, **{'fixed-d2': 75, 'fixed-d4': 78}, PAD=80,
               shares={'a': {1: 0.95, 4: 0.05}})
    text = main_job.verdict(won, 'fixed-d4')
    assert 'PAD beats the best fixed dilation on test.' in text
    assert '- [x] PAD - best fixed >= +1.5 mIoU' in text
    assert "- [x] PAD's spread <= 2 x the best fixed's" in text
    # one dilation on 95 % of the pixels: that layer is a fixed conv
    assert '- [ ] the PAD layers use more than one dilation' in text


def test_discriminates_needs_twice_the_larger_spread():
    apart = main_job.discriminates(
        recs(regular=70, **{'fixed-d4': 74}, PAD=0), 'fixed-d4')
    assert '+4.00, 2.5 x the larger spread (1.58)' in apart
    assert 'tells models apart' in apart
    close = main_job.discriminates(
        recs(regular=70, **{'fixed-d4': 72}, PAD=0), 'fixed-d4')
    assert 'cannot tell models apart' in close


def initial_weights(config, seed):
    """The model of ``config`` as the runner builds and initialises it after
    ``randomness.seed=seed``."""
    cfg = Config.fromfile(osp.join(REPO, config))
    init_default_scope('mmseg')
    set_random_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.state_dict()


def test_one_seed_starts_every_model_from_the_same_shared_weights():
    """The pairing of the verdict: with one seed, the PAD model's shared
    parts (every weight but the priors) start as the plain model's."""
    plain = initial_weights(main_job.REGULAR, 3)
    pad = initial_weights(main_job.PAD, 3)
    shared = [k for k in plain if 'num_batches_tracked' not in k]
    assert set(shared) <= set(pad)
    assert all(torch.equal(plain[k], pad[k]) for k in shared)
    assert any('aggregation' in k for k in pad)
    other = initial_weights(main_job.REGULAR, 4)
    assert not torch.equal(other['backbone.stem.0.weight'],
                           plain['backbone.stem.0.weight'])


def test_the_whole_job_on_a_tiny_schedule(tmp_path):
    """Every step of the job as a user runs it, two runs at a time: four
    models x two seeds on three splits, the tables, the verdict and the
    dilation maps."""
    env = dict(os.environ, OMP_NUM_THREADS='1')
    work = tmp_path / 'job'
    done = subprocess.run(
        [sys.executable, 'tools/main_job.py', '--work-dir', str(work),
         '--data-root', str(tmp_path / 'data'), '--num-train', '4',
         '--num-val', '2', '--num-test', '3', '--max-iters', '2', '--seeds',
         '0', '1', '--cfg-options', 'default_hooks.logger.interval=1'],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    out = done.stdout
    assert out.count('] PAD seed') == 2 and '[8/8]' in out
    results = json.load(open(work / 'results.json'))
    names = ('regular', 'fixed-d2', 'fixed-d4', 'PAD')
    assert sorted((r['name'], r['seed']) for r in results) == sorted(
        (n, s) for n in names for s in (0, 1))
    for r in results:
        assert 0 <= r['val'] <= 100 and 0 <= r['test'] <= 100
        assert set(r['test_sizes']) == {'<24px', '>=24px'}
    assert all(r['shares'] for r in results if r['name'] == 'PAD')
    # val and test are different splits: the test run read test.txt
    test_log = open(work / 'PAD' / 'seed0' / 'run.log').read()
    assert 'Iter(test) [3/3]' in test_log and 'Iter(val) [2/2]' in test_log
    table = open(work / 'results.md').read()
    for name in names:
        assert f'| {name} | 2 |' in table
    assert 'Best fixed dilation, chosen on val:' in table
    assert 'PAD: share of training pixels per dilation' in table
    assert 'backbone.layer1.1.conv2' in table
    assert 'IoU of the objects per size' in table
    assert 'Benchmark (test):' in table and 'paired by seed (2 seeds' in table
    assert 'Goals (issue 31):' in table
    # drawn on val images: the job reads test for its numbers only
    assert os.listdir(work / 'dilation_maps') and all(
        name.startswith('val_') for name in os.listdir(work / 'dilation_maps'))
    assert '| entropy | prior_grad_norm |' in table
    assert 'Spearman rho of expected dilation vs sqrt(object area)' in table
    sizes = json.load(open(work / 'size_correlation.json'))
    assert 'backbone.layer1.0.conv1' in sizes
    # the fixed-dilation model really ran with dilation 4 in layer1 (the
    # config tools/train.py dumped into its work directory), on the nested
    # rings
    dumped = Config.fromfile(
        work / 'fixed-d4' / 'seed0' / 'fcn_r18w16-layer1_1xb8-1k_nested-96x96.py')
    assert tuple(dumped.model.backbone.dilations) == (4, )
    assert dumped.test_dataloader.dataset.data_root == str(
        tmp_path / 'data' / 'VOC2012')
    assert dumped.test_dataloader.dataset.ann_file.endswith('test.txt')
    assert 'Iter(train)' in open(work / 'PAD' / 'seed1' / 'run.log').read()
