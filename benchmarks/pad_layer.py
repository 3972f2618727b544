"""Cost of one PAD layer against a plain 3x3 conv, the naive PAD and DCNv2.

Prints, for each shape (batch 2, C in {128, 256, 512} in and out channels,
H = W in {32, 64}, three candidate dilations), inference time (eval,
``inference='argmax'``), training step time (forward + backward) and peak
training-step memory of every variant as a ratio to the plain conv measured in
the same run, interleaved:

* ``PAD``: :class:`padseg.ops.PADConv2d` as shipped (its fast paths);
* ``naive``: the same layer computed by ``pad_conv2d_reference`` (one full
  convolution per candidate, mixed per pixel), the definition;
* ``DCNv2``: mmcv's ``ModulatedDeformConv2dPack``.

The PAD layers get a random prior (aggregation weights ~ N(0, 1/C)), so every
candidate is selected by a real share of the pixels (printed); a fresh layer
would pick the base dilation everywhere and cost a plain conv. All variants
share the conv's weight.

Peak memory is the rise of the process's peak resident set (VmHWM, reset
through /proc/self/clear_refs) over one training step, with glibc told to
mmap every block of 64 KiB or more so freed tensors leave the resident set.

    python benchmarks/pad_layer.py [--repeats 7] [--channels 128 256 512]
        [--sizes 32 64] [--threads N] [--clock {wall,cpu}]
"""
import argparse
import os
import platform
import re
import statistics
import sys
import time

#: Without ``--default-malloc`` (only for timing), the script runs itself
#: again with glibc's mmap threshold at 64 KiB.
if ('--default-malloc' not in sys.argv
        and os.environ.get('MALLOC_MMAP_THRESHOLD_') != '65536'):
    os.environ['MALLOC_MMAP_THRESHOLD_'] = '65536'
    os.execv(sys.executable, [sys.executable] + sys.argv)

import torch  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from padseg.ops import PADConv2d, dilation_probabilities  # noqa: E402
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
    for name, cls in (('PAD', PADConv2d), ('naive', NaivePADConv2d)):
        layer = cls(channels, channels, 3, padding=1, bias=False,
                    dilations=(1, 2, 4))
        randomise_prior(layer)
        variants[name] = layer
    variants['naive'].load_state_dict(variants['PAD'].state_dict())
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


def interleaved_medians(fns: dict, repeats: int, clock=time.perf_counter
                        ) -> dict:
    times = {name: [] for name in fns}
    for fn in fns.values():
        fn()  # warm-up
    for _ in range(repeats):
        for name, fn in fns.items():
            start = clock()
            fn()
            times[name].append(clock() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def describe_machine(args) -> str:
    """CPU model, cores, threads, torch version, clock and load."""
    model = platform.processor() or platform.machine()
    with open('/proc/cpuinfo') as f:
        found = re.search(r'model name\s*:\s*(.+)', f.read())
    if found:
        model = found.group(1).strip()
    load = ', '.join(f'{v:.1f}' for v in os.getloadavg())
    malloc = ('default malloc' if args.default_malloc else
              'MALLOC_MMAP_THRESHOLD_=65536')
    return (f'# {model}, {os.cpu_count()} cores, {torch.get_num_threads()} '
            f'threads, torch {torch.__version__}, {args.clock} clock, '
            f'{malloc}, load average at start {load}')


def add_timing_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--threads', type=int, default=None,
                        help="torch threads (default: torch's own choice)")
    parser.add_argument('--clock', choices=sorted(CLOCKS), default='wall')
    parser.add_argument(
        '--default-malloc', action='store_true',
        help="time with glibc's default allocator, which reuses freed "
        'blocks instead of mapping fresh pages for each one (no memory '
        'columns then)')


def measure(channels: int, size: int, repeats: int, clock,
            with_memory: bool = True) -> dict:
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
                                  repeats, clock)
    train_t = interleaved_medians({n: train(m) for n, m in variants.items()},
                                  repeats, clock)
    memory = {}
    for name, module in variants.items() if with_memory else ():
        step = train(module)
        step()
        memory[name] = min(peak_memory(step) for _ in range(3))
    return dict(infer=infer_t, train=train_t, memory=memory,
                shares=candidate_shares(variants['PAD'], x))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_timing_arguments(parser)
    parser.add_argument('--channels', type=int, nargs='+',
                        default=[128, 256, 512])
    parser.add_argument('--sizes', type=int, nargs='+', default=[32, 64])
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    print(describe_machine(args))
    names = None
    for c in args.channels:
        for h in args.sizes:
            result = measure(c, h, args.repeats, CLOCKS[args.clock],
                             with_memory=not args.default_malloc)
            if names is None:
                names = [n for n in result['infer'] if n != 'conv']
                cols = [f'{kind} {n}/conv'
                        for kind in ('infer', 'train', 'mem') for n in names]
                print('| C | H | conv infer ms | conv train ms | conv mem MiB'
                      ' | ' + ' | '.join(cols) + ' | PAD shares |')
                print('|' + '---|' * (6 + len(cols)))
            base = {k: result[k].get('conv', float('nan'))
                    for k in ('infer', 'train', 'memory')}
            cells = [f'{result[kind].get(n, float("nan")) / base[kind]:.2f}'
                     for kind in ('infer', 'train', 'memory') for n in names]
            shares = '/'.join(f'{s:.2f}' for s in result['shares'])
            print(f'| {c} | {h} | {base["infer"] * 1e3:.1f} | '
                  f'{base["train"] * 1e3:.1f} | '
                  f'{base["memory"] / 2**20:.1f} | '
                  + ' | '.join(cells) + f' | {shares} |', flush=True)


if __name__ == '__main__':
    main()
