"""Every config with PAD layers logs their dilation shares while it trains
(DilationLoggerHook) next to the temperature annealing."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    osp.relpath(p, REPO) for p in glob.glob(
        osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p)


def has_pad(cfg) -> bool:
    backbone = cfg.model.get('backbone', {})
    return str(backbone.get('type', '')).startswith('PAD') or (
        (backbone.get('dcn') or {}).get('type') == 'PAD')


PAD_CONFIGS = [c for c in CONFIGS if has_pad(Config.fromfile(
    osp.join(REPO, c)))]


def test_the_pad_configs_are_found():
    assert len(PAD_CONFIGS) >= 30
    assert not any(has_pad(Config.fromfile(osp.join(REPO, c)))
                   for c in CONFIGS if '/pad-' not in c and '_pad-' not in c)


@pytest.mark.parametrize('config', PAD_CONFIGS)
def test_pad_configs_log_dilations_and_anneal_tau(config):
    cfg = Config.fromfile(osp.join(REPO, config))
    types = [hook['type'] for hook in cfg.get('custom_hooks', [])]
    assert 'TauAnnealingHook' in types and 'DilationLoggerHook' in types
