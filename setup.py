"""Build step that ships ``configs/`` inside the package as
``padseg/.mim/configs``, where MMEngine resolves
``_base_ = 'padseg::<path>'`` (mmseg ships its configs the same way).
Metadata lives in pyproject.toml.

In the checkout ``padseg/.mim/configs`` is a link to ``configs/``, so a
checkout on ``sys.path`` resolves ``padseg::`` too; a wheel gets a copy.
"""
import os.path as osp
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))


class BuildWithConfigs(build_py):

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            return  # the checkout's own padseg/.mim is used
        target = osp.join(self.build_lib, 'padseg', '.mim')
        if osp.exists(target):
            shutil.rmtree(target)
        shutil.copytree(osp.join(HERE, 'configs'), osp.join(target, 'configs'),
                        ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        shutil.copy(osp.join(HERE, 'padseg', '.mim', 'model-index.yml'),
                    target)


setup(cmdclass={'build_py': BuildWithConfigs})
