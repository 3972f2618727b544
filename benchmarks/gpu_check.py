"""One check of padseg's PAD paths on a CUDA GPU, in one command.

Contenders: ``conv`` (one cuDNN convolution of the layer's shape, the
baseline), ``reference`` (eq. 1: one cuDNN convolution per candidate, mixed
per pixel; the CUDA default) and ``columns`` (the candidates mixed or
selected in the im2col columns, one cuBLAS product a pass;
``padseg/ops/fast_paths.py``). Three phases, each under its own time limit,
results written after every case to ``OUT/gpu_check.json``,
``OUT/gpu_check.txt`` (a readable summary) and ``OUT/gpu_profile.txt``:

a. correctness of the columns path against the reference in float64 from
   the same (rounded) inputs: the output and all four gradients (input,
   weight, bias, probabilities) of a soft and a hard (straight-through)
   step, and argmax evaluation, on odd and realistic geometries, NCHW and
   channels-last, in fp32 with TF32 off, TF32, bf16 and fp16;
b. one layer: the soft and the hard training step (forward and backward
   with the gradients of input, weight, bias and probabilities: every
   contender computes all it has; the convolution has no probabilities),
   argmax inference and peak memory, as ratios to the convolution measured
   in the same rounds (CUDA events; >= 30 rounds, the order rotated each
   round; median and interquartile range), all contenders in one memory
   format, NCHW and channels-last apart; shapes batch 8, C 256/512, H
   64/128, and ResNet-101 OS8 layer4's own (C 512, 64x64, base dilation 2
   and 4); bf16 and fp32 with TF32 (cuDNN and cuBLAS alike); then the
   profiler's table of one soft step per contender;
c. the whole ResNet-101 (OS 8) + DeepLabV3+ training step (forward, loss,
   backward) and inference step with bf16 autocast, regular against PAD
   (layer4) on each contender, regular and PAD in the same memory format
   (NCHW, then channels-last), after a check that the contenders agree.

Each phase's seconds are recorded. It exits with 1 on any mismatch or
failure, 2 when a phase ran out of time, else 0. ``--small`` runs tiny
cases: on a machine without a GPU it is the check's own dry run
(tests/test_benchmarks.py); ``--inject-error`` corrupts the columns path's
output, its weight gradient and its argmax output (the check's own test:
each must be caught). It imports padseg's ops without ``padseg/__init__``
(the GPU machine has no mmseg); phase c needs mmengine and mmcv-lite
(``benchmarks/gpu_prepare.sh``).

    python benchmarks/gpu_check.py OUT [--small] [--budget 480] [--phases abc]
"""
import argparse
import json
import os
import platform
import signal
import sys
import time
import traceback
import types

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
os.environ['PADSEG_KERNEL_FALLBACK'] = '0'  # a failing path raises

from gpu_timing import (paired, peak_bytes, profile_table,  # noqa: E402
                        ratio_text)


def import_ops():
    """padseg's ops modules, without running ``padseg/__init__`` and
    ``padseg/ops/__init__`` (they register mmseg models)."""
    for name, path in (('padseg', 'padseg'), ('padseg.ops', 'padseg/ops')):
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [os.path.join(REPO, path)]
            sys.modules[name] = package
    from padseg.ops import fast_paths, fast_plan, geometry, reference
    return fast_paths, fast_plan, geometry, reference


fast_paths, fast_plan, geometry, reference = import_ops()

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
#: one layer's shapes: (C, H=W, base dilation); the last two are ResNet-101
#: OS8 layer4's own (dilation 2, and 4 in its multi-grid blocks)
LAYER_SHAPES = [(256, 64, 1), (256, 128, 1), (512, 64, 1), (512, 128, 1),
                (512, 64, 2), (512, 64, 4)]
SMALL_LAYER_SHAPES = [(16, 8, 1), (16, 8, 2)]
STEPS = ('soft', 'hard', 'argmax')
#: The PAD contenders of phase b: the reference, and the columns path with
#: its GPU chunk budget (fast_plan._GPU_CHUNK_BYTES) at 256 MB (the default:
#: fewer launches) and at 64 MB (less memory), to choose the budget by.
PAD_CONTENDERS = ('reference', 'columns', 'columns64')


class PhaseTimeout(Exception):
    pass


#: Set when the running phase's time is up (a library may wrap the alarm's
#: exception in its own, so the cases look at this too).
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
    info = dict(python=platform.python_version(), torch=torch.__version__,
                device=str(device))
    try:
        import triton
        info['triton'] = triton.__version__
    except ImportError:
        pass
    if device.type == 'cuda':
        props = torch.cuda.get_device_properties(device)
        info.update(name=props.name,
                    multiprocessors=props.multi_processor_count,
                    capability=f'{props.major}.{props.minor}',
                    memory_gib=round(props.total_memory / 2**30, 1))
    return info


def set_mode(mode):
    dtype, tf32 = MODES[mode]
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    return dtype


def layer_geometry(cin, cout, k, stride, base, cands, h, w):
    """The layer's candidate paddings and dilations and its output size, as
    PADConv2d computes them (``padseg/ops/geometry.py``)."""
    kernel = (k, k) if isinstance(k, int) else tuple(k)
    dilation = (base, base)
    padding = (base * (kernel[0] // 2), base * (kernel[1] // 2))
    dilations = geometry.candidate_dilations(dilation, cands)
    paddings = geometry.candidate_paddings(kernel, padding, dilation,
                                           dilations)
    out = geometry.output_size((h, w), kernel, (stride, stride), padding,
                               dilation)
    return kernel, paddings, dilations, out


def straight_through(soft):
    """The hard step's probabilities: one-hot values, the soft gradient
    (``gumbel_softmax(hard=True)`` without the noise), and their index."""
    index = soft.max(1)[1]
    hard = torch.zeros_like(soft).scatter_(1, index[:, None], 1.0)
    return hard - soft.detach() + soft, index


def geometry_tensors(geo, device, dtype, channels_last=False):
    """Inputs in ``dtype`` (float32 probabilities) and the layer's
    geometry."""
    cin, cout, k, stride, base, groups, cands, h, w, has_bias, n = geo
    kernel, paddings, dilations, (ho, wo) = layer_geometry(
        cin, cout, k, stride, base, cands, h, w)
    gen = torch.Generator().manual_seed(0)

    def rand(*shape, scale=1.0):
        return (torch.randn(*shape, generator=gen) * scale).to(device)

    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = rand(n, cin, h, w).to(dtype).contiguous(memory_format=fmt)
    weight = rand(cout, cin // groups, *kernel,
                  scale=(cin // groups * kernel[0] * kernel[1])**-0.5)
    bias = rand(cout).to(dtype) if has_bias else None
    probs = torch.softmax(rand(n, len(cands), ho, wo), dim=1)
    grad_out = rand(n, cout, ho, wo).to(dtype).contiguous(memory_format=fmt)
    rest = ((stride, stride), paddings, dilations, groups)
    return x, weight.to(dtype), bias, probs, grad_out, rest


def rel_error(got, ref):
    """Largest error over the largest reference value."""
    got, ref = got.detach().double(), ref.detach().double()
    return float((got - ref).abs().max() / ref.abs().max().clamp_min(1e-30))


def mean_error(got, ref):
    """Mean error over the mean reference value: a few pixels whose argmax
    tie breaks the other way (bf16 rounding) do not count as a mismatch."""
    got, ref = got.detach().double(), ref.detach().double()
    return float((got - ref).abs().mean() / ref.abs().mean().clamp_min(1e-30))


def _corrupt(t):
    """``t`` with its first value moved by its largest magnitude."""
    bump = torch.zeros_like(t).flatten()
    bump[0] = t.detach().abs().max()
    return t + bump.view_as(t)


def check_case(geo, mode, device, channels_last, inject):
    """Relative errors of the columns path's output and every gradient of a
    soft and a hard step, and of its argmax, against float64."""
    dtype = set_mode(mode)
    x, weight, bias, soft, grad_out, rest = geometry_tensors(
        geo, device, dtype, channels_last)
    errors = {}
    for step in ('soft', 'hard'):
        leaves = [t.clone().requires_grad_() for t in (x, weight)]
        leaves += [] if bias is None else [bias.clone().requires_grad_()]
        soft_leaf = soft.clone().requires_grad_()
        wide = [t.detach().double().requires_grad_() for t in leaves]
        wide_soft = soft.double().requires_grad_()
        probs, index = (soft_leaf, None) if step == 'soft' else \
            straight_through(soft_leaf)
        wide_probs = wide_soft if step == 'soft' else \
            straight_through(wide_soft)[0]
        b = leaves[2] if bias is not None else None
        out = fast_paths.pad_conv2d_columns(leaves[0], leaves[1], b, probs,
                                            *rest, index=index)
        ref = reference.pad_conv2d_reference(
            wide[0], wide[1], wide[2] if bias is not None else None,
            wide_probs, *rest)
        got = list(torch.autograd.grad(out, leaves + [soft_leaf], grad_out))
        expected = torch.autograd.grad(ref, wide + [wide_soft],
                                       grad_out.double())
        if inject:  # the check's own test: wrong values must be caught
            out, got[1] = _corrupt(out), _corrupt(got[1])
        names = ['x', 'weight', 'bias'][:len(leaves)] + ['probs']
        errors[f'{step} forward'] = rel_error(out, ref)
        errors.update({f'{step} grad_{name}': rel_error(a, e)
                       for name, a, e in zip(names, got, expected)})
    index = soft.argmax(1)
    one_hot = F.one_hot(index, soft.shape[1]).permute(0, 3, 1, 2).double()
    with torch.no_grad():
        argmax = fast_paths.pad_conv2d_gather(x, weight, bias, index, *rest)
        if inject:
            argmax = _corrupt(argmax)
        errors['argmax'] = rel_error(argmax, reference.pad_conv2d_reference(
            x.double(), weight.double(),
            None if bias is None else bias.double(), one_hot, *rest))
    return errors


def phase_correctness(report, device, small, inject):
    report.say('## a. the columns path against float64 (largest error / '
               'largest value): soft and hard steps (output, 4 gradients), '
               'argmax')
    for mode in MODES:
        for geo in SMALL_GEOMETRIES if small else GEOMETRIES:
            for layout in ('nchw', 'channels_last'):
                name = f'{geo[:10]} {mode} {layout}'
                start = time.time()
                try:
                    errors = check_case(geo, mode, device,
                                        layout == 'channels_last', inject)
                    bad = {k: v for k, v in errors.items()
                           if not v <= TOLERANCE[mode]}
                    worst = max(errors, key=errors.get)
                    case = dict(name=name, status='fail' if bad else 'pass',
                                errors=errors, tolerance=TOLERANCE[mode])
                    if bad:
                        case['error'] = '; '.join(
                            f'{k} off by {v:.2e}' for k, v in bad.items())
                except PhaseTimeout:
                    raise
                except Exception as error:
                    case = failed_case(name, error)
                    worst, errors = 'exception', {'exception': float('nan')}
                case['seconds'] = round(time.time() - start, 2)
                report.add('correctness', case)
                report.say(f"{case['status']:4} {name}: worst {worst} "
                           f"{errors[worst]:.1e} (tolerance "
                           f"{TOLERANCE[mode]})")


def layer_contenders(c, size, base, batch, dtype, device, channels_last):
    """Soft step, hard step and argmax callables of the convolution and of
    each PAD contender on one shape (3x3, candidates 1, 2, 4 times
    ``base``), all in one memory format."""
    geo = (c, c, 3, 1, base, 1, (1, 2, 4), size, size, True, batch)
    x, w, b, soft, grad, rest = geometry_tensors(geo, device, dtype,
                                                 channels_last)
    soft = torch.softmax(soft.log() + torch.tensor(
        [1.0, 0.0, 0.0], device=device).view(1, 3, 1, 1), 1)
    stride, paddings, dilations, _ = rest
    leaves = [t.clone().requires_grad_() for t in (x, w, b)]
    prob_leaf = soft.clone().requires_grad_()
    index = soft.argmax(1)
    one_hot = F.one_hot(index, 3).permute(0, 3, 1, 2).to(soft.dtype)

    def conv(x, w, b, p=None, index=None):
        return F.conv2d(x, w, b, stride, paddings[0], dilations[0])

    def ref(x, w, b, p, index=None):
        return reference.pad_conv2d_reference(x, w, b, p, *rest)

    def budget(bytes_, fn):
        """``fn`` with the columns path's GPU chunk budget at ``bytes_``."""
        def run(*args):
            kept = fast_plan._GPU_CHUNK_BYTES
            fast_plan._GPU_CHUNK_BYTES = bytes_
            try:
                return fn(*args)
            finally:
                fast_plan._GPU_CHUNK_BYTES = kept
        return run

    def columns(x, w, b, p, index=None):
        return fast_paths.pad_conv2d_columns(x, w, b, p, *rest, index=index)

    def gather(x, w, b, p, index):
        return fast_paths.pad_conv2d_gather(x, w, b, index, *rest)

    def step(fn, hard):
        def run():
            probs, idx = (straight_through(prob_leaf) if hard else
                          (prob_leaf, None))
            wanted = leaves + ([prob_leaf] if fn is not conv else [])
            torch.autograd.grad(fn(*leaves, probs, idx), wanted, grad)
        return run

    contenders = dict(conv=conv, reference=ref, columns=columns,
                      columns64=budget(1 << 26, columns))
    steps = {s: {k: step(fn, s == 'hard') for k, fn in contenders.items()}
             for s in ('soft', 'hard')}

    def argmax(fn):
        def run():
            with torch.no_grad():
                return fn(x, w, b, one_hot, index)
        return run

    steps['argmax'] = dict(
        conv=argmax(conv), reference=argmax(ref), columns=argmax(gather),
        columns64=argmax(budget(1 << 26, gather)))
    shares = torch.bincount(index.flatten(), minlength=3).float()
    return steps, (shares / shares.sum()).tolist()


def phase_layer_timing(report, device, small):
    report.say('\n## b. one layer: ratios to one cuDNN convolution in the '
               'same rounds, median (interquartile range)')
    report.say('| dtype | layout | C | H=W | base d | conv train ms | ' +
               ' | '.join(f'{s}: {k}' for s in STEPS + ('memory', )
                          for k in PAD_CONTENDERS) + ' |')
    report.say('|' + '---|' * (6 + 4 * len(PAD_CONTENDERS)))
    shapes = SMALL_LAYER_SHAPES if small else LAYER_SHAPES
    batch, rounds = (2, 3) if small else (8, 30)
    torch.backends.cudnn.allow_tf32 = True  # PyTorch's default for cuDNN,
    torch.backends.cuda.matmul.allow_tf32 = True  # and cuBLAS alike here
    shares, profiled = [], None
    for dtype_name, dtype in (('bf16', torch.bfloat16),
                              ('fp32', torch.float32)):
        for layout in ('nchw', 'channels_last'):
            for c, size, base in shapes:
                name = f'{dtype_name} {layout} C{c} H{size} d{base}'
                try:
                    steps, shares = layer_contenders(
                        c, size, base, batch, dtype, device,
                        layout == 'channels_last')
                    timed = {s: paired(steps[s], rounds, 'conv', device)
                             for s in STEPS}
                    memory = {k: peak_bytes(fn, device)
                              for k, fn in steps['soft'].items()}
                    case = dict(name=name, status='pass', memory=memory,
                                shares=shares, **timed)
                    cells = [ratio_text(timed[s]['ratio'][k])
                             for s in STEPS for k in PAD_CONTENDERS]
                    cells += [f'{memory[k] / memory["conv"]:.2f}'
                              if memory['conv'] else '-'
                              for k in PAD_CONTENDERS]
                    report.say(
                        f"| {dtype_name} | {layout} | {c} | {size} | {base} "
                        f"| {timed['soft']['baseline_ms']:.3f} | "
                        + ' | '.join(cells) + ' |')
                    if profiled is None:
                        profiled = (name, steps['soft'])
                except PhaseTimeout:
                    raise
                except Exception as error:
                    case = failed_case(name, error)
                    report.say(f'| {name}: FAILED {case["error"][:200]} |')
                report.add('layer', case)
    report.say(f'(candidate shares of the argmax and hard cases: '
               f'{[round(s, 2) for s in shares]})')
    if profiled is not None:
        name, fns = profiled
        with open(os.path.join(report.out_dir, 'gpu_profile.txt'), 'w') as f:
            for contender, fn in fns.items():
                f.write(f'# {name}, soft training step: {contender}\n')
                f.write(profile_table(fn, device) + '\n\n')
        report.say(f'(profiler tables of one soft step, {name}: '
                   'gpu_profile.txt)')


def phase_network(report, device, small):
    report.say('\n## c. ResNet + DeepLabV3+, bf16 autocast: ratios to the '
               'regular network in the same memory format')
    from gpu_network import build_pair
    from padseg.ops.pad_conv import PADConv2d, link_pad_chain, pad_layers
    batch, size, rounds = (2, 32, 2) if small else (8, 512, 30)
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, size, size, generator=gen).to(device)
    labels = torch.randint(0, 21, (batch, size, size), generator=gen).to(
        device)
    for layout in ('nchw', 'channels_last'):
        fmt = (torch.channels_last if layout == 'channels_last' else
               torch.contiguous_format)
        regular, pad = build_pair(small, PADConv2d, link_pad_chain)
        regular = regular.to(device, memory_format=fmt)
        pad = pad.to(device, memory_format=fmt)
        x = images.contiguous(memory_format=fmt)

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
                    loss = model.loss(x, labels)
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
                    return model(x)
            return run

        logits = {k: infer(pad, k)().float() for k in ('reference',
                                                       'columns')}
        losses = {k: float(train(pad, k)().detach()) for k in ('reference',
                                                               'columns')}
        agree = {'argmax logits columns vs reference': mean_error(
                     logits['columns'], logits['reference']),
                 'training loss columns vs reference': abs(
                     losses['columns'] - losses['reference']) /
                 abs(losses['reference'])}
        ok = all(v <= 5e-2 for v in agree.values())
        report.add('network', dict(name=f'{layout} agreement', errors=agree,
                                   status='pass' if ok else 'fail',
                                   error='' if ok else f'{agree}'))
        report.say(f"{'pass' if ok else 'fail'} {layout} agreement (mean "
                   'error, tolerance 5e-2): ' +
                   ', '.join(f'{k} {v:.1e}' for k, v in agree.items()))
        for label, fn in (('training step', train),
                          ('inference step', infer)):
            result = paired({'regular': fn(regular),
                             'PAD reference': fn(pad, 'reference'),
                             'PAD columns': fn(pad, 'columns')},
                            rounds, 'regular', device)
            report.add('network', dict(name=f'{layout} {label}',
                                       status='pass', **result))
            report.say(f"{layout} {label}: regular "
                       f"{result['baseline_ms']:.1f} ms; " +
                       ', '.join(f'{k} x{ratio_text(v)}' for k, v in
                                 result['ratio'].items() if k != 'regular'))



def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out_dir', help='folder for gpu_check.json/.txt')
    parser.add_argument('--small', action='store_true',
                        help='tiny cases: the dry run without a GPU')
    parser.add_argument('--budget', type=float, default=480,
                        help='seconds for all phases (default 480)')
    parser.add_argument('--phases', default='abc',
                        help='which phases to run (default abc)')
    parser.add_argument('--inject-error', action='store_true',
                        help='corrupt the columns output, weight gradient '
                        "and argmax (the check's own test)")
    args = parser.parse_args()
    if set(args.phases) - set('abc'):
        parser.error(f'--phases: letters of abc, got {args.phases!r}')
    os.makedirs(args.out_dir, exist_ok=True)
    if not torch.cuda.is_available() and not args.small:
        parser.error('no CUDA GPU here: run --small for the dry run')
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    report = Report(args.out_dir, device)
    report.say(f'# padseg GPU check: {json.dumps(report.data["machine"])}')
    # Estimated for a cold H200 (no compilation: cuBLAS and cuDNN only):
    # a about 40 s, b about 150 s, c about 90 s; the limits leave room.
    fractions = dict(a=0.25, b=0.45, c=0.30)
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
        report.say(f'(phase {key}: {report.data["seconds"][key]} s of '
                   f'{limit} s)')
    failures = report.data['failures']
    report.data['timed_out'] = timed_out
    report.say(f'\n{len(failures)} failures' +
               ''.join(f'\n- {f}' for f in failures) +
               (f'; phases out of time: {timed_out}' if timed_out else ''))
    return 1 if failures else 2 if timed_out else 0


if __name__ == '__main__':
    sys.exit(main())
