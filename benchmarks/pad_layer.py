"""Cost of one PAD layer against a plain 3x3 conv, the naive PAD and DCNv2.

Prints, for each shape (batch 2, C in {128, 256, 512} in and out channels,
H = W in {32, 64}, three candidate dilations), inference time (eval,
``inference='argmax'``), training step time (forward + backward) and peak
training-step memory of every variant as a ratio to the plain conv measured in
the same run, interleaved (each ratio is the median over rounds of the
variant's time over the conv's time in the same round):

* ``PAD``: :class:`padseg.ops.PADConv2d` as shipped (its fast paths, with
  the compiled kernels of :mod:`padseg.ops.compiled`);
* ``PAD-PyTorch``: the same fast paths in plain PyTorch operations, the
  fallback where the kernels cannot be built (``PADSEG_COMPILED=0``);
* ``naive``: the same layer computed by ``pad_conv2d_reference`` (one full
  convolution per candidate, mixed per pixel), the definition;
* ``DCNv2``: mmcv's ``ModulatedDeformConv2dPack``.

The PAD layers get a random prior (aggregation weights ~ N(0, 1/C)), so every
candidate is selected by a real share of the pixels (printed); a fresh layer
would pick the base dilation everywhere and cost a plain conv. All variants
share the conv's weight.

Times are taken with the default allocator. Peak memory is measured in a
child process (the script itself with ``--memory-only``) where glibc is told
to mmap every block of 64 KiB or more, so freed tensors leave the resident
set: it is the rise of the peak resident set (VmHWM, reset through
/proc/self/clear_refs) over one training step. That setting makes every large
allocation map fresh pages, which would distort the times, hence two
processes.

    python benchmarks/pad_layer.py [--repeats 7] [--channels 128 256 512]
        [--sizes 32 64] [--threads N] [--clock {wall,cpu}] [--no-memory]
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from typing import Optional

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from padseg.ops import PADConv2d, compiled  # noqa: E402
from padseg.ops import dilation_probabilities  # noqa: E402
from padseg.ops.pad_conv import pad_conv2d_reference  # noqa: E402


class NaivePADConv2d(PADConv2d):
    """PADConv2d computed by the reference definition (the cost before the
    fast paths)."""

    def forward(self, x):
        probs = dilation_probabilities(self.hidden_prior(x), self.tau,
                                       self.training, self.hard,
                                       self.inference)
        return pad_conv2d_reference(x, self.weight, self.bias, probs,
                                    self.stride, self.candidate_paddings,
                                    self.candidate_dilations, self.groups)


class PyTorchPADConv2d(PADConv2d):
    """PADConv2d with the compiled kernels switched off."""

    def forward(self, x):
        before = os.environ.get('PADSEG_COMPILED')
        os.environ['PADSEG_COMPILED'] = '0'
        try:
            return super().forward(x)
        finally:
            if before is None:
                del os.environ['PADSEG_COMPILED']
            else:
                os.environ['PADSEG_COMPILED'] = before


def randomise_prior(layer: PADConv2d) -> None:
    """Aggregation weights ~ N(0, 1/C): unit-variance logits, so each
    candidate wins a real share of the pixels."""
    with torch.no_grad():
        for param in layer.aggregation.parameters():
            if param.dim() > 1:
                param.normal_(0, param.shape[1]**-0.5)
            else:
                param.zero_()


def candidate_shares(layer: PADConv2d, x: torch.Tensor) -> list:
    """Share of the pixels that pick each candidate in evaluation."""
    with torch.no_grad():
        chosen = layer.hidden_prior(x).argmax(1)
    return [float((chosen == k).float().mean())
            for k in range(len(layer.dilations))]


def build_variants(channels: int) -> dict:
    from mmcv.ops import ModulatedDeformConv2dPack
    conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
    variants = {'conv': conv}
    for name, cls in (('PAD', PADConv2d), ('PAD-PyTorch', PyTorchPADConv2d),
                      ('naive', NaivePADConv2d)):
        layer = cls(channels, channels, 3, padding=1, bias=False,
                    dilations=(1, 2, 4))
        randomise_prior(layer)
        variants[name] = layer
    for name in ('PAD-PyTorch', 'naive'):
        variants[name].load_state_dict(variants['PAD'].state_dict())
    variants['DCNv2'] = ModulatedDeformConv2dPack(channels, channels, 3,
                                                  padding=1, bias=False)
    with torch.no_grad():
        for module in variants.values():
            module.weight.copy_(conv.weight)
    return variants


def _status(key: str) -> int:
    with open('/proc/self/status') as f:
        return int(re.search(key + r':\s+(\d+) kB', f.read()).group(1)) * 1024


def peak_memory(fn) -> int:
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    base = _status('VmRSS')
    fn()
    return _status('VmHWM') - base


#: ``wall`` (default): elapsed time; ``cpu``: the process's CPU time, which
#: other processes on a shared machine disturb far less (meaningful with one
#: thread).
CLOCKS = {'wall': time.perf_counter, 'cpu': time.process_time}


def interleaved_medians(fns: dict, repeats: int, clock=time.perf_counter,
                        baseline: Optional[str] = None) -> dict:
    """Median time of each function over ``repeats`` rounds, each round
    running every function once in turn. With ``baseline``, also
    ``ratios``: the median over rounds of each function's time divided by
    the baseline's time in the same round. On a shared or virtual machine
    whose speed drifts between rounds, those paired ratios are steadier than
    the ratio of the medians."""
    times = {name: [] for name in fns}
    for fn in fns.values():
        fn()  # warm-up
    for _ in range(repeats):
        for name, fn in fns.items():
            start = clock()
            fn()
            times[name].append(clock() - start)
    result = {name: statistics.median(t) for name, t in times.items()}
    if baseline is not None:
        result['ratios'] = {
            name: statistics.median(
                a / b for a, b in zip(t, times[baseline]))
            for name, t in times.items()}
    return result


def describe_machine(args) -> str:
    """CPU model, cores, threads, torch version, clock and load."""
    model = platform.processor() or platform.machine()
    with open('/proc/cpuinfo') as f:
        found = re.search(r'model name\s*:\s*(.+)', f.read())
    if found:
        model = found.group(1).strip()
    load = ', '.join(f'{v:.1f}' for v in os.getloadavg())
    return (f'# {model}, {os.cpu_count()} cores, {torch.get_num_threads()} '
            f'threads, torch {torch.__version__}, {args.clock} clock, '
            f'load average at start {load}')


def add_timing_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--threads', type=int, default=None,
                        help="torch threads (default: torch's own choice)")
    parser.add_argument('--clock', choices=sorted(CLOCKS), default='wall')


def _train_step(module, x_grad):
    def run():
        module.train()
        module(x_grad).sum().backward()
        module.zero_grad(set_to_none=True)
        x_grad.grad = None
    return run


def _inputs(channels: int, size: int):
    torch.manual_seed(0)
    variants = build_variants(channels)
    x = torch.randn(2, channels, size, size)
    return variants, x, x.clone().requires_grad_()


def measure_times(channels: int, size: int, repeats: int, clock) -> dict:
    """Inference and training-step medians of every variant, interleaved."""
    variants, x, x_grad = _inputs(channels, size)

    def infer(module):
        def run():
            module.eval()
            with torch.no_grad():
                module(x)
        return run

    infer_t = interleaved_medians({n: infer(m) for n, m in variants.items()},
                                  repeats, clock, baseline='conv')
    train_t = interleaved_medians(
        {n: _train_step(m, x_grad) for n, m in variants.items()}, repeats,
        clock, baseline='conv')
    return dict(infer=infer_t, train=train_t,
                shares=candidate_shares(variants['PAD'], x))


def measure_memory(channels: int, size: int) -> dict:
    """Peak training-step memory of every variant (bytes); needs
    ``MALLOC_MMAP_THRESHOLD_=65536`` (see the module docstring)."""
    variants, _, x_grad = _inputs(channels, size)
    memory = {}
    for name, module in variants.items():
        step = _train_step(module, x_grad)
        step()
        memory[name] = min(peak_memory(step) for _ in range(3))
    return memory


def memory_in_child(channels, sizes, threads) -> dict:
    """:func:`measure_memory` of every shape, run in a child process with
    the mmap threshold set: ``{(C, H): {variant: bytes}}``."""
    cmd = [sys.executable, os.path.abspath(__file__), '--memory-only',
           '--channels', *map(str, channels), '--sizes', *map(str, sizes)]
    if threads:
        cmd += ['--threads', str(threads)]
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536')
    out = subprocess.run(cmd, env=env, check=True, capture_output=True,
                         text=True).stdout
    return {(row['C'], row['H']): row['memory']
            for row in map(json.loads, out.splitlines())}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_timing_arguments(parser)
    parser.add_argument('--channels', type=int, nargs='+',
                        default=[128, 256, 512])
    parser.add_argument('--sizes', type=int, nargs='+', default=[32, 64])
    parser.add_argument('--no-memory', action='store_true',
                        help='times only (no memory columns)')
    parser.add_argument('--memory-only', action='store_true',
                        help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_only:
        if os.environ.get('MALLOC_MMAP_THRESHOLD_') != '65536':
            raise SystemExit('--memory-only needs MALLOC_MMAP_THRESHOLD_=65536')
        for c in args.channels:
            for h in args.sizes:
                print(json.dumps(dict(C=c, H=h, memory=measure_memory(c, h))),
                      flush=True)
        return

    print(describe_machine(args))
    print('# compiled PAD kernels: ' + ('in use' if compiled.kernels(
        torch.float32) is not None else 'not available (PAD = PAD-PyTorch)'))
    memory = ({} if args.no_memory else memory_in_child(
        args.channels, args.sizes, args.threads))
    names = None
    for c in args.channels:
        for h in args.sizes:
            result = measure_times(c, h, args.repeats, CLOCKS[args.clock])
            result['memory'] = memory.get((c, h), {})
            if names is None:
                names = [n for n in result['infer']
                         if n not in ('conv', 'ratios')]
                cols = [f'{kind} {n}/conv'
                        for kind in ('infer', 'train', 'mem') for n in names]
                print('| C | H | conv infer ms | conv train ms | conv mem MiB'
                      ' | ' + ' | '.join(cols) + ' | PAD shares |')
                print('|' + '---|' * (6 + len(cols)))
            base = {k: result[k].get('conv', float('nan'))
                    for k in ('infer', 'train', 'memory')}
            ratios = {kind: result[kind]['ratios']
                      for kind in ('infer', 'train')}
            ratios['memory'] = {n: result['memory'].get(n, float('nan')) /
                                base['memory'] for n in names}
            cells = [f'{ratios[kind][n]:.2f}'
                     for kind in ('infer', 'train', 'memory') for n in names]
            shares = '/'.join(f'{s:.2f}' for s in result['shares'])
            print(f'| {c} | {h} | {base["infer"] * 1e3:.1f} | '
                  f'{base["train"] * 1e3:.1f} | '
                  f'{base["memory"] / 2**20:.1f} | '
                  + ' | '.join(cells) + f' | {shares} |', flush=True)


if __name__ == '__main__':
    main()
