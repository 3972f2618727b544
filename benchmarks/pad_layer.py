"""Cost of one PAD layer against a plain 3x3 conv and mmcv's DCNv2.

Prints, for each shape (batch 2, C in {128, 256, 512}, H in {32, 64}, three
candidate dilations), inference time (eval, ``inference='argmax'``), training
step time (forward + backward) and peak training-step memory of every variant
as a ratio to the plain conv measured in the same run, interleaved.

Peak memory is the rise of the process's peak resident set (VmHWM, reset
through /proc/self/clear_refs) over one training step, with glibc told to
mmap every block of 64 KiB or more so freed tensors leave the resident set.

    python benchmarks/pad_layer.py [--repeats 7] [--channels 128 256 512]
        [--sizes 32 64] [--markdown]
"""
import argparse
import os
import platform
import re
import statistics
import sys
import time

if os.environ.get('MALLOC_MMAP_THRESHOLD_') != '65536':
    os.environ['MALLOC_MMAP_THRESHOLD_'] = '65536'
    os.execv(sys.executable, [sys.executable] + sys.argv)

import torch  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from padseg.ops import PADConv2d  # noqa: E402


def build_variants(channels: int) -> dict:
    from mmcv.ops import ModulatedDeformConv2dPack
    return {
        'conv': nn.Conv2d(channels, channels, 3, padding=1, bias=False),
        'PAD': PADConv2d(channels, channels, 3, padding=1, bias=False,
                         dilations=(1, 2, 4)),
        'DCNv2': ModulatedDeformConv2dPack(channels, channels, 3, padding=1,
                                           bias=False),
    }


def _status(key: str) -> int:
    with open('/proc/self/status') as f:
        return int(re.search(key + r':\s+(\d+) kB', f.read()).group(1)) * 1024


def peak_memory(fn) -> int:
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    base = _status('VmRSS')
    fn()
    return _status('VmHWM') - base


def interleaved_medians(fns: dict, repeats: int) -> dict:
    times = {name: [] for name in fns}
    for fn in fns.values():
        fn()  # warm-up
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def measure(channels: int, size: int, repeats: int) -> dict:
    torch.manual_seed(0)
    variants = build_variants(channels)
    x = torch.randn(2, channels, size, size)
    x_grad = x.clone().requires_grad_()

    def infer(module):
        def run():
            module.eval()
            with torch.no_grad():
                module(x)
        return run

    def train(module):
        def run():
            module.train()
            module(x_grad).sum().backward()
            module.zero_grad(set_to_none=True)
            x_grad.grad = None
        return run

    infer_t = interleaved_medians({n: infer(m) for n, m in variants.items()},
                                  repeats)
    train_t = interleaved_medians({n: train(m) for n, m in variants.items()},
                                  repeats)
    memory = {}
    for name, module in variants.items():
        step = train(module)
        step()
        memory[name] = min(peak_memory(step) for _ in range(3))
    return dict(infer=infer_t, train=train_t, memory=memory)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--channels', type=int, nargs='+',
                        default=[128, 256, 512])
    parser.add_argument('--sizes', type=int, nargs='+', default=[32, 64])
    args = parser.parse_args()

    print(f'# {platform.processor() or platform.machine()}, '
          f'{torch.get_num_threads()} threads, torch {torch.__version__}')
    names = None
    header = None
    for c in args.channels:
        for h in args.sizes:
            result = measure(c, h, args.repeats)
            if names is None:
                names = [n for n in result['infer'] if n != 'conv']
                cols = [f'{kind} {n}/conv' for kind in ('infer', 'train', 'mem')
                        for n in names]
                header = '| C | H | conv infer ms | conv train ms | ' + \
                    ' | '.join(cols) + ' |'
                print(header)
                print('|' + '---|' * (4 + len(cols)))
            base = {k: result[k]['conv'] for k in result}
            cells = [f'{result[kind][n] / base[kind]:.2f}'
                     for kind in ('infer', 'train', 'memory') for n in names]
            print(f'| {c} | {h} | {base["infer"] * 1e3:.1f} | '
                  f'{base["train"] * 1e3:.1f} | ' + ' | '.join(cells) + ' |',
                  flush=True)


if __name__ == '__main__':
    main()
