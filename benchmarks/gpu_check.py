"""One check of padseg's PAD kernels on a CUDA GPU, in one command.

Three phases, each under its own time limit, results written after every
case to ``OUT/gpu_check.json`` and ``OUT/gpu_check.txt`` (a readable
summary):

a. correctness: every Triton kernel and gradient (soft forward, argmax,
   input, weight, bias, probabilities) and the dominant-candidate argmax,
   against the reference computed in float64 from the same (rounded)
   inputs, on odd and realistic geometries, in fp32 with TF32 off, TF32,
   bf16 and fp16. Any exception (a kernel that does not compile, a fallback
   to the reference) counts as a failure;
b. layer timing (batch 8, C 256/512, H 64/128, bf16 and fp32 with TF32 as
   PyTorch sets it for cuDNN): each contender's training step (forward and
   backward), argmax inference and peak memory, as ratios to one cuDNN
   convolution of the same shape measured in the same rounds (CUDA events,
   median of paired ratios, warm-up excluded); the first call of each
   contender (compilation and autotuning) is reported on its own;
c. the whole ResNet-101 + DeepLabV3+ training step (forward, loss, backward)
   and inference step with bf16 autocast, regular against PAD (layer4) on
   each contender, after a check that the contenders agree.

It exits with 1 on any mismatch or failure, 2 when a phase ran out of time,
else 0. ``--small`` runs tiny cases: with ``TRITON_INTERPRET=1`` on a
machine without a GPU it is the check's own dry run (tests/test_benchmarks).
It imports padseg's ops without ``padseg/__init__`` (the GPU machine has no
mmseg); phase c needs mmengine and mmcv-lite (``benchmarks/gpu_prepare.sh``).

    python benchmarks/gpu_check.py OUT [--small] [--budget 470]
"""
import argparse
import json
import os
import platform
import signal
import statistics
import sys
import time
import traceback
import types

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
os.environ['PADSEG_KERNEL_FALLBACK'] = '0'  # a failing kernel raises


def import_ops():
    """padseg's ops modules, without running ``padseg/__init__`` and
    ``padseg/ops/__init__`` (they register mmseg models)."""
    for name, path in (('padseg', 'padseg'), ('padseg.ops', 'padseg/ops')):
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [os.path.join(REPO, path)]
            sys.modules[name] = package
    from padseg.ops import dispatch, dominant, reference, triton_pad
    return dispatch, dominant, reference, triton_pad


dispatch, dominant, reference, triton_pad = import_ops()

#: in the order they run: what users train in first, should time run out
MODES = {'bf16': (torch.bfloat16, False), 'fp32': (torch.float32, False),
         'tf32': (torch.float32, True), 'fp16': (torch.float16, False)}
#: largest |error| over largest |reference value| allowed per mode
TOLERANCE = {'fp32': 1e-4, 'tf32': 5e-3, 'bf16': 3e-2, 'fp16': 5e-3}
# (in, out, kernel, stride, base dilation, groups, candidates, H, W, bias,
# batch): odd sizes, stride 2, groups, depthwise, > 32 output channels per
# group, a 3x5 kernel with two candidates, C=512 at 65x65
GEOMETRIES = [
    (4, 6, 3, 1, 1, 1, (1, 2, 4), 7, 6, True, 2),
    (16, 24, 3, 2, 1, 1, (1, 2, 4), 13, 11, True, 2),
    (32, 48, 3, 1, 2, 2, (1, 2, 4), 12, 10, False, 2),
    (16, 16, 3, 1, 1, 16, (1, 2, 4), 9, 9, True, 2),
    (40, 72, (3, 5), 1, 1, 1, (1, 3), 10, 9, True, 2),
    (64, 256, 3, 2, 1, 2, (1, 2, 4), 33, 31, True, 2),
    (512, 512, 3, 1, 2, 1, (1, 2, 4), 65, 65, True, 2),
]
#: the dry run's: stride 2; > 32 output channels, a 3x5 kernel, 2 candidates
SMALL_GEOMETRIES = [(16, 24, 3, 2, 1, 1, (1, 2, 4), 7, 6, True, 1),
                    (16, 40, (3, 5), 1, 1, 1, (1, 3), 5, 6, True, 1)]


class PhaseTimeout(Exception):
    pass


#: Set when the running phase's time is up (Triton's interpreter wraps the
#: alarm's exception in its own, so the cases look at this too).
_OUT_OF_TIME = []


def _alarm(signum, frame):
    _OUT_OF_TIME.append(signum)
    raise PhaseTimeout()


def failed_case(name, error):
    """The record of a case that raised; the phase's time running out is no
    failure of the case, so it goes on up."""
    if _OUT_OF_TIME:
        raise PhaseTimeout()
    return dict(name=name, status='fail',
                error=f'{type(error).__name__}: {error}',
                trace=traceback.format_exc()[-3000:])


class Report:
    """The results so far, written out after every case."""

    def __init__(self, out_dir, device):
        self.out_dir = out_dir
        self.data = dict(machine=machine(device), phases={}, failures=[])
        self.lines = []

    def add(self, phase, case):
        self.data['phases'].setdefault(phase, []).append(case)
        if case.get('status') == 'fail':
            self.data['failures'].append(f"{phase}: {case['name']}: "
                                         f"{case.get('error', '')}"[:600])
        self.write()

    def say(self, line=''):
        print(line, flush=True)
        self.lines.append(line)
        self.write()

    def write(self):
        with open(os.path.join(self.out_dir, 'gpu_check.json'), 'w') as f:
            json.dump(self.data, f, indent=1)
        with open(os.path.join(self.out_dir, 'gpu_check.txt'), 'w') as f:
            f.write('\n'.join(self.lines) + '\n')


def machine(device):
    import triton
    info = dict(python=platform.python_version(), torch=torch.__version__,
                triton=triton.__version__, device=str(device),
                interpreter=os.environ.get('TRITON_INTERPRET') == '1')
    if device.type == 'cuda':
        props = torch.cuda.get_device_properties(device)
        info.update(name=props.name, multiprocessors=props.multi_processor_count,
                    capability=f'{props.major}.{props.minor}',
                    memory_gib=round(props.total_memory / 2**30, 1))
    return info


def set_mode(mode):
    dtype, tf32 = MODES[mode]
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    return dtype


def geometry_tensors(geometry, device, dtype):
    """Inputs in ``dtype`` and the same values in float64, with the layer's
    candidate paddings and dilations (as PADConv2d computes them)."""
    cin, cout, k, stride, base, groups, cands, h, w, has_bias, n = geometry
    kh, kw = (k, k) if isinstance(k, int) else k
    dilations = [(m * base, m * base) for m in cands]
    paddings = [(d * (kh // 2), e * (kw // 2)) for d, e in dilations]
    ho = (h + 2 * paddings[0][0] - dilations[0][0] * (kh - 1) - 1) // stride + 1
    wo = (w + 2 * paddings[0][1] - dilations[0][1] * (kw - 1) - 1) // stride + 1
    gen = torch.Generator().manual_seed(0)

    def rand(*shape, scale=1.0):
        return (torch.randn(*shape, generator=gen) * scale).to(device)

    x = rand(n, cin, h, w).to(dtype)
    weight = rand(cout, cin // groups, kh, kw,
                  scale=(cin // groups * kh * kw)**-0.5).to(dtype)
    bias = rand(cout).to(dtype) if has_bias else None
    probs = torch.softmax(rand(n, len(cands), ho, wo), dim=1)
    grad_out = rand(n, cout, ho, wo).to(dtype)
    rest = ((stride, stride), paddings, dilations, groups)
    return x, weight, bias, probs, grad_out, rest


def rel_error(got, ref):
    """Largest error over the largest reference value."""
    got, ref = got.detach().double(), ref.detach().double()
    return float((got - ref).abs().max() / ref.abs().max().clamp_min(1e-30))


def mean_error(got, ref):
    """Mean error over the mean reference value: a few pixels whose argmax
    tie breaks the other way (bf16 rounding) do not count as a mismatch."""
    got, ref = got.detach().double(), ref.detach().double()
    return float((got - ref).abs().mean() / ref.abs().mean().clamp_min(1e-30))


def check_case(geometry, mode, device, inject):
    """Relative errors of every output and gradient of one geometry."""
    dtype = set_mode(mode)
    x, weight, bias, probs, grad_out, rest = geometry_tensors(
        geometry, device, dtype)
    low = [t.clone().requires_grad_() for t in (x, weight, probs)]
    wide = [t.double().requires_grad_() for t in (x, weight, probs)]
    bias_low = None if bias is None else bias.clone().requires_grad_()
    bias_wide = None if bias is None else bias.double().requires_grad_()
    out = triton_pad.pad_conv2d_triton(low[0], low[1], bias_low, low[2],
                                       *rest)
    if inject:  # the check's own test: a wrong value must be caught
        out = out + (torch.arange(out.numel(), device=device) == 0).view_as(
            out).to(out.dtype) * out.detach().abs().max()
    ref = reference.pad_conv2d_reference(wide[0], wide[1], bias_wide, wide[2],
                                         *rest)
    names = ['x', 'weight', 'probs'] + (['bias'] if bias is not None else [])
    got = torch.autograd.grad(out, low + ([bias_low] if bias is not None
                                          else []), grad_out)
    expected = torch.autograd.grad(ref, wide + ([bias_wide] if bias is not
                                                None else []),
                                   grad_out.double())
    errors = {'forward': rel_error(out, ref)}
    errors.update({f'grad_{name}': rel_error(a, b)
                   for name, a, b in zip(names, got, expected)})
    index = probs.argmax(1)
    one_hot = F.one_hot(index, probs.shape[1]).permute(0, 3, 1, 2).double()
    with torch.no_grad():
        ref_argmax = reference.pad_conv2d_reference(
            x.double(), weight.double(),
            None if bias is None else bias.double(), one_hot, *rest)
        errors['argmax_triton'] = rel_error(
            triton_pad.pad_conv2d_triton_argmax(x, weight, bias, index,
                                                *rest), ref_argmax)
        errors['argmax_dominant'] = rel_error(
            dominant.pad_conv2d_dominant(x, weight, bias, index, *rest),
            ref_argmax)
    return errors


def phase_correctness(report, device, small, inject):
    report.say('## a. correctness against float64 (largest error / largest '
               'value)')
    for mode in MODES:
        for geometry in SMALL_GEOMETRIES if small else GEOMETRIES:
            name = f'{geometry[:10]} {mode}'
            start = time.time()
            try:
                errors = check_case(geometry, mode, device, inject)
                worst = max(errors, key=errors.get)
                ok = errors[worst] <= TOLERANCE[mode]
                case = dict(name=name, status='pass' if ok else 'fail',
                            errors=errors, tolerance=TOLERANCE[mode])
                if not ok:
                    case['error'] = f'{worst} off by {errors[worst]:.2e}'
            except PhaseTimeout:
                raise
            except Exception as error:
                case = failed_case(name, error)
                worst, errors = 'exception', {'exception': float('nan')}
            case['seconds'] = round(time.time() - start, 1)
            report.add('correctness', case)
            report.say(f"{case['status']:4} {name}: worst {worst} "
                       f"{errors[worst]:.1e} (tolerance {TOLERANCE[mode]})")


def elapsed_ms(fn, device):
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


def paired(fns, repeats, baseline, device):
    """First-call ms (compilation, autotuning), then the median over rounds
    of each contender's time over the baseline's in the same round."""
    first = {name: elapsed_ms(fn, device) for name, fn in fns.items()}
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(elapsed_ms(fn, device))
    return dict(
        baseline_ms=statistics.median(times[baseline]),
        ratio={name: statistics.median(a / b for a, b in
                                       zip(t, times[baseline]))
               for name, t in times.items()},
        first_ms=first)


def peak_bytes(fn, device):
    if device.type != 'cuda':
        return None
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def layer_contenders(c, size, batch, dtype, device):
    """Training and argmax callables of the convolution and each PAD
    contender on one shape (3x3, candidates 1, 2, 4)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, c, size, size, generator=gen).to(device, dtype)
    w = (torch.randn(c, c, 3, 3, generator=gen) / (9 * c)**0.5).to(device,
                                                                   dtype)
    b = torch.zeros(c, device=device, dtype=dtype)
    shift = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    probs = torch.softmax(torch.randn(batch, 3, size, size, generator=gen) +
                          shift, 1).to(device)
    index = probs.argmax(1)
    grad = torch.randn(batch, c, size, size, generator=gen).to(device, dtype)
    rest = ((1, 1), [(1, 1), (2, 2), (4, 4)], [(1, 1), (2, 2), (4, 4)], 1)
    one_hot = F.one_hot(index, 3).permute(0, 3, 1, 2).to(probs.dtype)
    leaves = [t.clone().requires_grad_() for t in (x, w, b, probs)]

    def step(fn):
        def run():
            torch.autograd.grad(fn(*leaves), leaves[:3], grad,
                                allow_unused=True)
        return run

    train = {
        'conv': step(lambda x, w, b, p: F.conv2d(x, w, b, 1, 1)),
        'reference': step(lambda x, w, b, p: reference.pad_conv2d_reference(
            x, w, b, p, *rest)),
        'triton': step(lambda x, w, b, p: triton_pad.pad_conv2d_triton(
            x, w, b, p, *rest))}
    argmax = {
        'conv': lambda: F.conv2d(x, w, b, 1, 1),
        'reference': lambda: reference.pad_conv2d_reference(x, w, b, one_hot,
                                                            *rest),
        'triton': lambda: triton_pad.pad_conv2d_triton_argmax(x, w, b, index,
                                                              *rest),
        'dominant': lambda: dominant.pad_conv2d_dominant(x, w, b, index,
                                                         *rest)}
    shares = torch.bincount(index.flatten(), minlength=3).float()
    return train, argmax, (shares / shares.sum()).tolist()


def phase_layer_timing(report, device, small):
    report.say('\n## b. one layer: ratios to one cuDNN convolution (median '
               'of paired rounds)')
    report.say('| dtype | C | H=W | conv train ms | train: reference | '
               'train: triton | argmax: reference | argmax: triton | '
               'argmax: dominant | memory: reference | memory: triton | '
               'first call s (triton train/argmax) |')
    report.say('|' + '---|' * 12)
    shapes = ([(16, 8)] if small else
              [(256, 64), (256, 128), (512, 64), (512, 128)])
    batch, repeats = (2, 2) if small else (8, 10)
    torch.backends.cudnn.allow_tf32 = True  # PyTorch's default for cuDNN
    torch.backends.cuda.matmul.allow_tf32 = False
    shares = []
    for dtype_name, dtype in (('bf16', torch.bfloat16),
                              ('fp32', torch.float32)):
        for c, size in shapes:
            name = f'{dtype_name} C{c} H{size}'
            try:
                train, argmax, shares = layer_contenders(c, size, batch,
                                                         dtype, device)
                t = paired(train, repeats, 'conv', device)
                a = paired(argmax, repeats, 'conv', device)
                memory = {k: peak_bytes(fn, device) for k, fn in train.items()}
                case = dict(name=name, status='pass', train=t, argmax=a,
                            memory=memory, shares=shares)
                mem = {k: (f'{memory[k] / memory["conv"]:.2f}'
                           if memory['conv'] else '-')
                       for k in ('reference', 'triton')}
                report.say(
                    f"| {dtype_name} | {c} | {size} | {t['baseline_ms']:.3f} "
                    f"| {t['ratio']['reference']:.2f} | "
                    f"{t['ratio']['triton']:.2f} | "
                    f"{a['ratio']['reference']:.2f} | "
                    f"{a['ratio']['triton']:.2f} | "
                    f"{a['ratio']['dominant']:.2f} | {mem['reference']} | "
                    f"{mem['triton']} | {t['first_ms']['triton'] / 1e3:.1f}/"
                    f"{a['first_ms']['triton'] / 1e3:.1f} |")
            except PhaseTimeout:
                raise
            except Exception as error:
                case = failed_case(name, error)
                report.say(f'| {name}: FAILED {case["error"][:200]} |')
            report.add('layer', case)
    report.say(f'(candidate shares of the argmax cases: '
               f'{[round(s, 2) for s in shares]})')


def phase_network(report, device, small):
    report.say('\n## c. ResNet + DeepLabV3+, bf16 autocast: ratios to the '
               'regular network')
    from gpu_network import build_pair
    from padseg.ops.pad_conv import PADConv2d, link_pad_chain, pad_layers
    if device.type != 'cuda':  # the interpreter runs the CUDA paths here
        dispatch._on_gpu = lambda x: True
    regular, pad = build_pair(small, PADConv2d, link_pad_chain)
    regular, pad = regular.to(device), pad.to(device)
    batch, size, repeats = (2, 32, 1) if small else (8, 512, 10)
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, size, size, generator=gen).to(device)
    labels = torch.randint(0, 21, (batch, size, size), generator=gen).to(
        device)

    def on(kernel):
        for _, layer in pad_layers(pad):
            layer.gpu_kernel = kernel
        return pad

    def train(model, kernel=None):
        def run():
            if kernel:
                on(kernel)
            model.train()
            torch.manual_seed(1)
            with torch.autocast(device.type, dtype=torch.bfloat16):
                loss = model.loss(images, labels)
            loss.backward()
            model.zero_grad(set_to_none=True)
            return loss
        return run

    def infer(model, kernel=None):
        def run():
            if kernel:
                on(kernel)
            model.eval()
            with torch.no_grad(), torch.autocast(device.type,
                                                 dtype=torch.bfloat16):
                return model(images)
        return run

    kernels = ('reference', 'triton', 'dominant')
    logits = {k: infer(pad, k)().float() for k in kernels}
    agree = {f'argmax {k} vs reference': mean_error(logits[k],
                                                   logits['reference'])
             for k in kernels[1:]}
    losses = {k: float(train(pad, k)().detach()) for k in kernels[:2]}
    agree['training loss triton vs reference'] = abs(
        losses['triton'] - losses['reference']) / abs(losses['reference'])
    ok = all(v <= 5e-2 for v in agree.values())
    report.add('network', dict(name='agreement', errors=agree,
                               status='pass' if ok else 'fail',
                               error='' if ok else f'{agree}'))
    report.say(f"{'pass' if ok else 'fail'} agreement (mean error, tolerance "
               '5e-2): ' +
               ', '.join(f'{k} {v:.1e}' for k, v in agree.items()))
    t = paired({'regular': train(regular), 'PAD reference':
                train(pad, 'reference'), 'PAD triton': train(pad, 'triton')},
               repeats, 'regular', device)
    report.add('network', dict(name='training step', status='pass', **t))
    i = paired({'regular': infer(regular), **{f'PAD {k}': infer(pad, k)
                                              for k in kernels}},
               repeats, 'regular', device)
    report.add('network', dict(name='inference step', status='pass', **i))
    for label, result in (('training step', t), ('inference step', i)):
        report.say(f"{label}: regular {result['baseline_ms']:.1f} ms; " +
                   ', '.join(f'{k} x{v:.2f}' for k, v in
                             result['ratio'].items() if k != 'regular'))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out_dir', help='folder for gpu_check.json/.txt')
    parser.add_argument('--small', action='store_true',
                        help='tiny cases: the dry run without a GPU')
    parser.add_argument('--budget', type=float, default=470,
                        help='seconds for all phases (default 470)')
    parser.add_argument('--phases', default='abc',
                        help='which phases to run (default abc)')
    parser.add_argument('--inject-error', action='store_true',
                        help="corrupt one output value (the check's test)")
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    if not torch.cuda.is_available() and not args.small:
        parser.error('no CUDA GPU here: run --small with TRITON_INTERPRET=1 '
                     'for the dry run')
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    report = Report(args.out_dir, device)
    report.say(f'# padseg GPU check: {json.dumps(report.data["machine"])}')
    # On a cold H200 (docs/benchmarks.md): a about 350-400 s (Triton
    # compiles every tile once per dtype), b 38 s, c 20 s.
    fractions = dict(a=0.72, b=0.16, c=0.12)
    phases = dict(a=(phase_correctness, (args.small, args.inject_error)),
                  b=(phase_layer_timing, (args.small,)),
                  c=(phase_network, (args.small,)))
    signal.signal(signal.SIGALRM, _alarm)
    timed_out = []
    for key in args.phases:
        fn, extra = phases[key]
        limit = max(1, int(args.budget * fractions[key]))
        start = time.time()
        _OUT_OF_TIME.clear()
        signal.alarm(limit)
        try:
            fn(report, device, *extra)
        except Exception as error:
            if _OUT_OF_TIME:
                timed_out.append(key)
                report.say(f'phase {key}: out of time after {limit} s')
            else:
                report.add(key, failed_case('phase', error))
                report.say(f'phase {key} failed: {error}')
        finally:
            signal.alarm(0)
        report.data.setdefault('seconds', {})[key] = round(
            time.time() - start, 1)
    failures = report.data['failures']
    report.data['timed_out'] = timed_out
    report.say(f'\n{len(failures)} failures' +
               ''.join(f'\n- {f}' for f in failures) +
               (f'; phases out of time: {timed_out}' if timed_out else ''))
    return 1 if failures else 2 if timed_out else 0


if __name__ == '__main__':
    sys.path.insert(0, HERE)
    sys.exit(main())
