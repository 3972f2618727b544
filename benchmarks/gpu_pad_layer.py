"""Cost of one PAD layer on a CUDA GPU against a cuDNN convolution of the same
shape: the Triton kernels (``gpu_kernel='triton'``) and the reference (one
cuDNN convolution per candidate), measured in the same run.

For each shape (batch 8, C in {128, 256, 512} in and out channels, H = W in
{64, 128}, three candidate dilations, 3x3, dtype bf16 and fp32) it prints, as
ratios to the convolution:

* training step (forward + backward, CUDA events, median over rounds of the
  paired ratio, interleaved);
* argmax inference (eval, no grad);
* peak memory of a training step (``torch.cuda.max_memory_allocated`` above
  what the tensors already held).

The PAD layers get a random prior (aggregation weights ~ N(0, 1/C)), so each
candidate is chosen by a real share of the pixels. On a machine without a
CUDA GPU it says so and exits with status 0.

    python benchmarks/gpu_pad_layer.py [--repeats 20] [--channels 128 256 512]
        [--sizes 64 128] [--dtypes bf16 fp32] [--batch 8]
"""
import argparse
import os
import statistics
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from padseg.ops import PADConv2d  # noqa: E402

from pad_layer import randomise_prior  # noqa: E402

DTYPES = {'bf16': torch.bfloat16, 'fp32': torch.float32,
          'fp16': torch.float16}


def no_gpu() -> bool:
    if torch.cuda.is_available():
        return False
    print('no CUDA GPU here: nothing to measure (the CPU figures are '
          'benchmarks/pad_layer.py)')
    return True


def cuda_time(fn) -> float:
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end)


def paired_ratios(fns: dict, repeats: int, baseline: str) -> dict:
    """Median over rounds of each function's time over the baseline's in
    the same round (every function once per round, after a warm-up that
    also compiles the kernels); and the baseline's median in ms."""
    for fn in fns.values():
        fn()
        fn()
    torch.cuda.synchronize()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(cuda_time(fn))
    ratios = {name: statistics.median(a / b for a, b in
                                      zip(t, times[baseline]))
              for name, t in times.items()}
    ratios['ms'] = statistics.median(times[baseline])
    return ratios


def peak_bytes(fn) -> int:
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def build(channels: int, dtype: torch.dtype) -> dict:
    conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
    variants = {'conv': conv}
    for name, kernel in (('PAD-Triton', 'triton'),
                         ('PAD-reference', 'reference')):
        layer = PADConv2d(channels, channels, 3, padding=1, bias=False,
                          dilations=(1, 2, 4), gpu_kernel=kernel)
        randomise_prior(layer)
        variants[name] = layer
    variants['PAD-reference'].load_state_dict(
        variants['PAD-Triton'].state_dict())
    with torch.no_grad():
        for module in variants.values():
            module.weight.copy_(conv.weight)
    return {name: module.cuda().to(dtype)
            for name, module in variants.items()}


def train_step(module, x):
    def run():
        module.train()
        x.grad = None
        module(x).float().sum().backward()
        module.zero_grad(set_to_none=True)
    return run


def infer(module, x):
    def run():
        module.eval()
        with torch.no_grad():
            module(x)
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=20)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--channels', type=int, nargs='+',
                        default=[128, 256, 512])
    parser.add_argument('--sizes', type=int, nargs='+', default=[64, 128])
    parser.add_argument('--dtypes', nargs='+', choices=sorted(DTYPES),
                        default=['bf16', 'fp32'])
    args = parser.parse_args()
    if no_gpu():
        return
    print(f'# {torch.cuda.get_device_name()}, torch {torch.__version__}, '
          f'batch {args.batch}, ratios to a cuDNN 3x3 convolution')
    print('| dtype | C | H=W | conv train ms | Triton train | reference '
          'train | Triton argmax | reference argmax | Triton memory | '
          'reference memory |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    for dtype_name in args.dtypes:
        dtype = DTYPES[dtype_name]
        for channels in args.channels:
            for size in args.sizes:
                torch.manual_seed(0)
                variants = build(channels, dtype)
                x = torch.randn(args.batch, channels, size, size,
                                device='cuda', dtype=dtype,
                                requires_grad=True)
                train = paired_ratios(
                    {n: train_step(m, x) for n, m in variants.items()},
                    args.repeats, 'conv')
                x_eval = x.detach()
                evals = paired_ratios(
                    {n: infer(m, x_eval) for n, m in variants.items()},
                    args.repeats, 'conv')
                memory = {n: peak_bytes(train_step(m, x))
                          for n, m in variants.items()}
                print(f'| {dtype_name} | {channels} | {size} | '
                      f'{train["ms"]:.2f} | {train["PAD-Triton"]:.2f} | '
                      f'{train["PAD-reference"]:.2f} | '
                      f'{evals["PAD-Triton"]:.2f} | '
                      f'{evals["PAD-reference"]:.2f} | '
                      f'{memory["PAD-Triton"] / memory["conv"]:.2f} | '
                      f'{memory["PAD-reference"] / memory["conv"]:.2f} |',
                      flush=True)


if __name__ == '__main__':
    main()
