"""tools/seed_study.py: configs over seeds through the real tools; the table
gives each entry's mean and spread over its seeds and the PAD layers'
dilation shares."""
import json
import os
import os.path as osp
import statistics
import subprocess
import sys

from helpers.reliability import PAD_DEEPLAB, pad_deeplab_config

from digits_scenes import make_digits_voc

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def run_study(*args):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, 'tools/seed_study.py', *args],
                          cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)


def test_two_entries_over_two_seeds(tmp_path):
    make_digits_voc(str(tmp_path / 'data'), num_train=4, num_val=1,
                    image_size=(32, 32), seed=1)
    config = pad_deeplab_config(str(tmp_path / 'cfg.py'),
                                str(tmp_path / 'data' / 'VOC2012'),
                                max_iters=2, interval=2)
    out = run_study(f'base={config}', f'uniform={config}', '--seeds', '0',
                    '1', '--work-dir', str(tmp_path / 'study'),
                    '--cfg-options', 'custom_hooks.1.interval=1',
                    '--set', 'uniform',
                    'model.backbone.pad_cfg.prior_init=uniform')
    assert out.returncode == 0, out.stderr[-3000:]
    runs = json.load(open(tmp_path / 'study' / 'results.json'))
    assert [(r['name'], r['seed']) for r in runs] == [
        ('base', 0), ('base', 1), ('uniform', 0), ('uniform', 1)]
    table = open(tmp_path / 'study' / 'results.md').read()
    for name in ('base', 'uniform'):
        values = [r['mIoU'] for r in runs if r['name'] == name]
        mean = statistics.mean(values)
        assert f'| {name} | 2 | {mean:.2f} | ' in table
        shares = [r['shares'] for r in runs if r['name'] == name]
        for per_layer in shares:
            assert per_layer  # logged by the config's DilationLoggerHook
            for layer_shares in per_layer.values():
                assert abs(sum(layer_shares.values()) - 1) < 1e-6
    assert 'share of training pixels per dilation' in table
    assert '| entropy | prior_grad_norm |' in table
    for r in runs:  # "is my PAD learning?" per layer, from the last step
        assert set(r['learning']) == set(r['shares'])
        for values in r['learning'].values():
            assert 0 <= values['entropy'] <= 1.0987 and \
                values['prior_grad_norm'] > 0
    # uniform starts at log 3 nats and two iterations barely move it
    uniform = [v['entropy'] for r in runs if r['name'] == 'uniform'
               for v in r['learning'].values()]
    assert min(uniform) > 1.0
    # the option reached its entry only
    cfgs = {name: open(next(
        osp.join(root, f) for root, _, files in os.walk(
            tmp_path / 'study' / name / 'seed0') for f in files
        if f == 'cfg.py' and 'vis_data' not in root)).read()
        for name in ('base', 'uniform')}
    assert "prior_init='uniform'" in cfgs['uniform']
    assert "prior_init='uniform'" not in cfgs['base']


def test_wrong_arguments_are_named(tmp_path):
    out = run_study('base=configs/missing.py', '--work-dir', str(tmp_path))
    assert out.returncode == 2
    assert "'base=configs/missing.py' is not NAME=CONFIG" in out.stderr
    out = run_study(f'base={PAD_DEEPLAB}', '--work-dir', str(tmp_path),
                    '--set', 'other', 'a=1')
    assert out.returncode == 2 and '--set other a=1: name an entry' in (
        out.stderr)
