"""Run a script as on the lent GPU machine: the OpenMMLab stack of this
environment hidden, only the wheels of ``benchmarks/gpu_prepare.sh``
installed (with ``pip --target``, as docs/benchmarks.md does there), on CPU
tensors."""
import os
import subprocess
import sys

from helpers.tools import REPO

#: The GPU image has none of these; only what the prepared wheels bring.
HIDDEN = ('mmcv', 'mmengine', 'mmseg', 'mmpretrain')

_BOOTSTRAP = '''
import importlib.machinery, runpy, sys
site, hidden = sys.argv[1], set(sys.argv[2].split(','))

class PreparedOnly:
    """Top-level packages of the hidden stack load from the prepared wheels
    or not at all."""

    def find_spec(self, name, path=None, target=None):
        if name not in hidden:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, [site])
        if spec is None:
            raise ModuleNotFoundError(f'No module named {name!r} (hidden: '
                                      'not on the GPU image)', name=name)
        return spec

sys.meta_path.insert(0, PreparedOnly())
sys.path.insert(0, site)
sys.argv = sys.argv[3:]
runpy.run_path(sys.argv[0], run_name='__main__')
'''


def install_prepared_wheels(target: str) -> str:
    """``benchmarks/gpu_prepare.sh`` into ``target/wheels``, installed into
    ``target/site``; returns the site folder."""
    wheels = os.path.join(target, 'wheels')
    site = os.path.join(target, 'site')
    subprocess.run(['bash', os.path.join(REPO, 'benchmarks',
                                         'gpu_prepare.sh'), wheels],
                   check=True, capture_output=True, text=True)
    names = sorted(os.path.join(wheels, n) for n in os.listdir(wheels))
    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q',
                    '--no-index', '--no-deps', '--no-compile', '--target',
                    site, *names], check=True, capture_output=True, text=True)
    return site


def run_as_on_gpu_image(site: str, script: str, *args: str,
                        timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1')
    env.pop('PADSEG_KERNEL_FALLBACK', None)
    return subprocess.run(
        [sys.executable, '-c', _BOOTSTRAP, site, ','.join(HIDDEN), script,
         *args], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=timeout)
