"""Shared test set-up: a fixed seed and padseg registered."""
import random

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope

import padseg  # noqa: F401  (registers PAD, hooks, backbones, heads)


@pytest.fixture(autouse=True)
def _restore_default_scope():
    """A test that builds a Runner or model under some scope leaves that
    scope current for the rest of the worker; restore the registry's state so
    tests do not depend on the order they run in."""
    saved = dict(DefaultScope._instance_dict)
    yield
    DefaultScope._instance_dict = saved


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield
