"""Timing helpers of ``benchmarks/gpu_check.py``: paired rounds in rotating
order, medians with interquartile ranges, peak memory and a profiler table
of one call."""
import statistics
import time

import torch


def elapsed_ms(fn, device):
    """Milliseconds of one call (CUDA events on a GPU, else wall clock)."""
    if device.type != 'cuda':
        start = time.perf_counter()
        fn()
        return (time.perf_counter() - start) * 1e3
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end)


def quartiles(values):
    """``(first quartile, median, third quartile)``."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method='inclusive')
    return q1, q2, q3


def paired(fns, rounds, baseline, device, warmup=2):
    """Every contender once per round, the order rotated each round (so no
    contender always follows the same one), after ``warmup`` calls each;
    per contender the median and interquartile range over rounds of its time
    over the baseline's in the same round, and the baseline's median ms.
    The first call's ms (allocation, cuBLAS/cuDNN heuristics) apart."""
    names = list(fns)
    first = {name: elapsed_ms(fns[name], device) for name in names}
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(elapsed_ms(fns[name], device))
    ratios = {}
    for name in names:
        q1, median, q3 = quartiles([a / b for a, b in
                                    zip(times[name], times[baseline])])
        ratios[name] = dict(median=median, q1=q1, q3=q3)
    return dict(baseline_ms=statistics.median(times[baseline]),
                rounds=rounds, ratio=ratios, first_ms=first)


def peak_bytes(fn, device):
    """Peak memory a call allocates above what was allocated before it
    (None off the GPU)."""
    if device.type != 'cuda':
        return None
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def profile_table(fn, device, rows=10):
    """The profiler's table of one call (after a warm-up call), sorted by
    device time on a GPU, CPU time elsewhere."""
    from torch.profiler import ProfilerActivity, profile
    fn()
    activities = [ProfilerActivity.CPU]
    if device.type == 'cuda':
        activities.append(ProfilerActivity.CUDA)
        torch.cuda.synchronize()
    with profile(activities=activities) as prof:
        fn()
        if device.type == 'cuda':
            torch.cuda.synchronize()
    keys = (['cuda_time_total', 'device_time_total'] if device.type ==
            'cuda' else []) + ['cpu_time_total']
    for key in keys:  # the device column's name has changed across torch
        try:
            return prof.key_averages().table(sort_by=key, row_limit=rows)
        except Exception as error:  # a table is worth more than the sort
            last = error
    return f'(no profiler table: {type(last).__name__}: {last})'



def ratio_text(entry):
    """``1.23 (1.20-1.27)``: median and interquartile range."""
    return f"{entry['median']:.2f} ({entry['q1']:.2f}-{entry['q3']:.2f})"
