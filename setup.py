"""padseg: Pixel-wise Adaptive Dilation (PAD-Nets) for MMSegmentation and MMPretrain.

The tested stack is pinned in tools/requirements/runtime.txt. mmcv must be the full
build with compiled ops (``mmcv.ops``); see docs/install.md for CPU and CUDA builds.
"""
import os.path as osp

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_requirements(name):
    with open(osp.join(HERE, 'tools', 'requirements', name)) as f:
        return [
            line.strip() for line in f
            if line.strip() and not line.startswith('#')
        ]


def read_version():
    scope = {}
    with open(osp.join(HERE, 'padseg', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='padseg',
    version=read_version(),
    description='Pixel-wise Adaptive Dilation (PAD-Nets) for OpenMMLab',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['padseg', 'padseg.*']),
    # The compiled PAD kernels are built from source on first use.
    package_data={'padseg.ops': ['csrc/*.cpp']},
    python_requires='>=3.8',
    install_requires=read_requirements('runtime.txt'),
    extras_require={'tests': read_requirements('tests.txt')},
    license='Apache-2.0',
)
