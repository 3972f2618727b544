"""Shared test set-up: a fixed seed, padseg registered, and the fixtures of
helpers/ that tests in several folders use."""
import os
import os.path as osp
import random
import sys

# A kernel that fails raises in the tests instead of warning and handing the
# call to the reference, whose result would then pass for the kernel's.
os.environ['PADSEG_KERNEL_FALLBACK'] = '0'

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402
from mmengine.visualization import Visualizer  # noqa: E402

import padseg  # noqa: F401,E402  (registers PAD, hooks, backbones, heads)

# The scene generator of the digits data lives with its dataset converter.
sys.path.insert(
    0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'tools',
                'dataset_converters'))
from helpers.pad_geometry import kernels  # noqa: F401,E402  (the paths twice)
from helpers.tiny_models import tiny  # noqa: F401,E402  (a session fixture)


@pytest.fixture(autouse=True)
def _restore_default_scope():
    """A test that builds a Runner or model under some scope leaves that
    scope current for the rest of the worker; restore the registry's state so
    tests do not depend on the order they run in."""
    saved = dict(DefaultScope._instance_dict)
    yield
    DefaultScope._instance_dict = saved


@pytest.fixture(autouse=True)
def _forget_visualizers():
    """A Runner reuses an existing visualizer of the same name (every config
    names it 'visualizer'), with the save directory of the test or fixture
    that made it: each test starts without any, so its Runners write to their
    own work directories, and the earlier ones are put back after it."""
    classes, todo = [], [Visualizer]
    while todo:  # each subclass keeps its own instances
        classes.append(todo.pop())
        todo.extend(classes[-1].__subclasses__())
    saved = {cls: dict(cls._instance_dict) for cls in classes}
    for cls in classes:
        cls._instance_dict.clear()
    yield
    for cls, instances in saved.items():
        cls._instance_dict.clear()
        cls._instance_dict.update(instances)


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield
