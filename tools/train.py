"""Train a padseg (or any MMSeg / MMPretrain) config.

Same arguments as mmseg 1.2.2's tools/train.py; the task (segmentation or
classification) follows the config's ``default_scope``. Runs on GPUs and on
the CPU, also distributed (``tools/dist_train.sh``, gloo on the CPU).

    python tools/train.py CONFIG [--work-dir DIR] [--resume] [--amp]
        [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]
"""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import padseg  # noqa: E402,F401  (registers PAD models, hooks)
from padseg.apis import (adapt_to_device, build_runner,  # noqa: E402
                         close_distributed, load_config, set_local_rank)


def parse_args():
    parser = argparse.ArgumentParser(description='Train a padseg model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        action='store_true',
        help='resume from the latest checkpoint in the work_dir')
    parser.add_argument(
        '--amp', action='store_true', help='automatic mixed precision (GPU)')
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
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    set_local_rank(args.local_rank)
    return args


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options, args.work_dir,
                      args.launcher)
    cfg = adapt_to_device(cfg, amp=args.amp)
    cfg.resume = args.resume
    build_runner(cfg).train()
    close_distributed()


if __name__ == '__main__':
    main()
