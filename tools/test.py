"""Test (and evaluate) a padseg (or any MMSeg / MMPretrain) config.

Same arguments as mmseg 1.2.2's tools/test.py; the task follows the config's
``default_scope``.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out DIR]
        [--show] [--show-dir DIR] [--tta] [--cfg-options k=v ...]
        [--launcher {none,pytorch,slurm,mpi}]
"""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import padseg  # noqa: E402,F401  (registers PAD models, hooks)
from padseg.apis import (adapt_to_device, build_runner,  # noqa: E402
                         close_distributed, load_config, set_local_rank)
from padseg.registry import task_scope  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description='Test a padseg model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='dir for the metrics json')
    parser.add_argument(
        '--out', help='dir (mmseg) or .pkl file (mmpretrain) for predictions')
    parser.add_argument('--show', action='store_true', help='show results')
    parser.add_argument('--show-dir', help='dir to save painted results')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument(
        '--tta', action='store_true', help='test time augmentation')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    set_local_rank(args.local_rank)
    return args


def enable_visualization(cfg, args, scope):
    hooks = cfg.default_hooks
    if 'visualization' not in hooks:
        raise RuntimeError('--show/--show-dir need default_hooks.visualization '
                           "(dict(type='VisualizationHook'))")
    vis = hooks.visualization
    if scope == 'mmseg':
        vis['draw'] = True
        if args.show_dir:
            cfg.visualizer['save_dir'] = args.show_dir
    else:
        vis['enable'] = True
        if args.show_dir:
            vis['out_dir'] = args.show_dir
    if args.show:
        vis['show'] = True
        vis['wait_time'] = args.wait_time


def main():
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    cfg = load_config(args.config, args.cfg_options, args.work_dir,
                      args.launcher)
    scope = task_scope(cfg)
    cfg = adapt_to_device(cfg)
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        enable_visualization(cfg, args, scope)
    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise ValueError('--tta needs tta_model and tta_pipeline in the '
                             'config')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.out is not None:
        if scope == 'mmseg':
            cfg.test_evaluator['output_dir'] = args.out
            cfg.test_evaluator['keep_results'] = True
        else:
            evaluators = cfg.test_evaluator
            if isinstance(evaluators, dict):
                evaluators = [evaluators]
            cfg.test_evaluator = list(evaluators) + [
                dict(type='DumpResults', out_file_path=args.out)
            ]
    build_runner(cfg).test()
    close_distributed()


if __name__ == '__main__':
    main()
