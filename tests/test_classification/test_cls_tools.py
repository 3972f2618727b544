"""tools/train.py trains the PAD ImageNet configs on the CPU, --resume
continues where it stopped, and tools/test.py reports top-1 and top-5."""
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
from helpers.cls_configs import REPO, make_imagenet

from padseg.engine import annealed_tau

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


# One interpreter runs the tools one after the other, each as
# ``python tools/<tool> ARGS`` would (``__main__``, its own argv), so the
# stack is imported once per test rather than once per command.
DRIVER = """
import runpy, sys
for argv in sys.argv[1].split('\\n'):
    sys.argv = argv.split('\\t')
    print('=== padseg test run:', sys.argv[0], flush=True)
    runpy.run_path(sys.argv[0], run_name='__main__')
"""


def run_tools(*commands) -> list:
    """Run ``(tool, *args)`` commands in a fresh process; their outputs."""
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    argvs = [
        '\t'.join([osp.join(REPO, 'tools', tool), *args])
        for tool, *args in commands
    ]
    result = subprocess.run([sys.executable, '-c', DRIVER, '\n'.join(argvs)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-5000:]
    outputs = result.stdout.split('=== padseg test run:')[1:]
    assert len(outputs) == len(commands)
    return outputs


def small_run(data_root: str) -> list:
    """--cfg-options for a 2-image-batch, 64 px, single-process run."""
    options = ['randomness.seed=0', 'default_hooks.logger.interval=1']
    for loader in LOADERS:
        options += [
            f'{loader}.dataset.data_root={data_root}',
            f'{loader}.batch_size=2', f'{loader}.num_workers=0',
            f'{loader}.persistent_workers=False'
        ]
    options.append('train_dataloader.dataset.pipeline.1.scale=64')
    for loader in LOADERS[1:]:
        options += [f'{loader}.dataset.pipeline.1.scale=73',
                    f'{loader}.dataset.pipeline.2.crop_size=64']
    return options


@pytest.mark.parametrize('config', [
    'resnet/pad-resnet50_8xb24-120e_in1k.py',
    'mobilenet_v2/pad-mobilenet-v2_8xb32-300e_in1k.py'
])
def test_train_resume_and_test(tmp_path, config):
    config = osp.join('configs', 'classification', config)
    data_root = str(tmp_path / 'imagenet')
    make_imagenet(data_root, per_class=2)  # 4 images: 2 iterations an epoch
    work_dir = str(tmp_path / 'work')
    options = small_run(data_root)

    checkpoint = osp.join(work_dir, 'epoch_2.pth')
    first, second, tested = run_tools(
        ('train.py', config, '--work-dir', work_dir, '--cfg-options',
         *options, 'train_cfg.max_epochs=1', 'experiment_name=first'),
        ('train.py', config, '--work-dir', work_dir, '--resume',
         '--cfg-options', *options, 'train_cfg.max_epochs=2',
         'experiment_name=resumed'),
        ('test.py', config, checkpoint, '--work-dir', work_dir,
         '--cfg-options', *options, 'experiment_name=test'))
    assert 'Epoch(train) [1][2/2]' in first
    assert re.search(r'Epoch\(val\) \[1\]\[2/2\].*accuracy/top1', first)
    assert 'Saving checkpoint at 1 epochs' in first
    assert 'resumed epoch: 1, iter: 2' in second
    assert 'Epoch(train) [1]' not in second
    assert 'Epoch(train) [2][2/2]' in second
    # The temperature continues its schedule: iteration 3 of 4 (tau is set
    # from runner.iter = 2 before it).
    tau = re.search(r'Epoch\(train\) \[2\]\[1/2\].* tau: ([\d.]+)', second)
    assert float(tau[1]) == pytest.approx(
        annealed_tau(1.0, 0.1, 2 / 4, 'exponential'), abs=1e-4)

    metrics = re.search(
        r'Epoch\(test\) \[2/2\]\s+accuracy/top1: ([\d.]+)\s+'
        r'accuracy/top5: ([\d.]+)', tested)
    assert metrics, tested[-3000:]
    top1, top5 = float(metrics[1]), float(metrics[2])
    assert 0 <= top1 <= top5 <= 100
