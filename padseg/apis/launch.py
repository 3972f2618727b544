"""What padseg's ``tools/train.py`` and ``tools/test.py`` share: reading the
config, choosing the task's scope, and making a config run on the CPU
(including CPU-distributed ``torchrun`` runs) as well as on GPUs."""
import logging
import os
import os.path as osp
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log

from padseg.engine.checkpoint import install_checkpoint_guards
from padseg.registry import task_scope

__all__ = [
    'load_config', 'adapt_to_device', 'build_runner', 'set_local_rank',
    'close_distributed'
]


def load_config(path: str, cfg_options: Optional[dict],
                work_dir: Optional[str], launcher: str) -> Config:
    """Read ``path``, merge ``--cfg-options`` and settle ``work_dir`` the way
    mmseg's tools do (CLI > config > ``./work_dirs/<config name>``)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    cfg = Config.fromfile(path)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(path))[0])
    task_scope(cfg)
    return cfg


def _replace_sync_bn(node) -> int:
    """Turn every ``SyncBN`` norm config into ``BN`` in place; count them."""
    count = 0
    if isinstance(node, dict):
        if node.get('type') == 'SyncBN':
            node['type'] = 'BN'
            count += 1
        for value in node.values():
            count += _replace_sync_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += _replace_sync_bn(value)
    return count


def adapt_to_device(cfg: Config, amp: bool = False) -> Config:
    """Make ``cfg`` run where it is: unchanged on GPUs; on the CPU, SyncBN
    becomes BN (it only works on GPUs), distributed runs use ``gloo`` with
    DDP on the CPU, and ``--amp`` is refused with a clear message."""
    if amp:
        if not torch.cuda.is_available():
            raise RuntimeError(
                '--amp needs a GPU (MMEngine\'s AmpOptimWrapper); on the CPU '
                'train in float32, or use bf16 autocast in your own code')
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper == 'OptimWrapper':
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
        elif wrapper != 'AmpOptimWrapper':
            raise ValueError(
                f'--amp needs optim_wrapper.type OptimWrapper, got {wrapper}')
    if torch.cuda.is_available():
        return cfg
    replaced = _replace_sync_bn(cfg._cfg_dict)
    if replaced:
        print_log(f'No GPU: {replaced} SyncBN config(s) run as BN.',
                  logger='current', level=logging.WARNING)
    if cfg.launcher != 'none':
        cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
        cfg.env_cfg.dist_cfg['backend'] = 'gloo'
        wrapper_cfg = dict(cfg.get('model_wrapper_cfg') or {})
        wrapper_cfg.setdefault('type', 'MMDistributedDataParallel')
        wrapper_cfg['device_ids'] = None
        wrapper_cfg.setdefault('broadcast_buffers', False)
        wrapper_cfg.setdefault('find_unused_parameters',
                               cfg.get('find_unused_parameters', False))
        cfg.model_wrapper_cfg = wrapper_cfg
        if not dist.is_initialized():
            # mmengine's init_dist calls torch.cuda.set_device; start gloo
            # ourselves (torchrun sets the env:// variables).
            dist.init_process_group(backend='gloo')
    return cfg


def build_runner(cfg: Config):
    """The Runner of the config's scope (``runner_type`` honoured), with
    padseg's checkpoint loader installed (:func:`install_checkpoint_guards`:
    a tool's process, not an import, decides that)."""
    install_checkpoint_guards()
    scope = task_scope(cfg)
    if scope == 'mmseg':
        import mmseg.models  # noqa: F401
        from mmseg.registry import RUNNERS
    else:
        import mmpretrain.models  # noqa: F401
        from mmpretrain.registry import RUNNERS
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    from mmengine.runner import Runner
    return Runner.from_cfg(cfg)


def set_local_rank(local_rank: int) -> None:
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(local_rank)


def close_distributed() -> bool:
    """End a distributed run cleanly: wait for every rank, then destroy the
    process group, so that no rank tears gloo's threads down while a peer
    still talks to it (a rank that exits first can otherwise abort the
    other at interpreter exit). Returns whether there was a group to close;
    a no-op for single-process runs."""
    if not (dist.is_available() and dist.is_initialized()):
        return False
    dist.barrier()
    dist.destroy_process_group()
    return True
