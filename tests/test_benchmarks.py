"""The GPU benchmark scripts run on a machine without a GPU: they say so and
exit cleanly (their figures need a CUDA GPU, docs/benchmarks.md)."""
import os
import subprocess
import sys

import pytest

from helpers import REPO


@pytest.mark.parametrize('script', ['gpu_pad_layer.py',
                                    'gpu_pad_resnet101_deeplabv3plus.py'])
def test_gpu_benchmarks_exit_cleanly_without_a_gpu(script):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='')  # no GPU, anywhere
    done = subprocess.run([sys.executable, f'benchmarks/{script}',
                           '--repeats', '1'], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'no CUDA GPU here' in done.stdout
