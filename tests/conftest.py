"""Shared test set-up: a fixed seed and padseg registered."""
import random

import numpy as np
import pytest
import torch

import padseg  # noqa: F401  (registers PAD, hooks, backbones, heads)


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield
