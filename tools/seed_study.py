"""Train and test configs over several seeds; print mIoU as mean +- spread
and, for PAD models, the share of training pixels per dilation of each PAD
layer at the end of training (as ``DilationLoggerHook`` logged it).

    python tools/seed_study.py NAME=CONFIG [NAME=CONFIG ...] --seeds 0 1 2
        --work-dir DIR [--cfg-options k=v ...] [--set NAME k=v ...]
        [--jobs N]

Each run goes through ``tools/train.py`` and ``tools/test.py`` (subprocesses,
as a user runs them) with ``randomness.seed=<seed>``. ``--set NAME k=v``
adds options to one entry only (e.g. ``--set uniform
model.backbone.pad_cfg.prior_init=uniform`` with ``uniform=<PAD config>``).
The table goes to stdout and ``DIR/results.md``; the numbers per run to
``DIR/results.json``. The spread is the sample standard deviation over the
seeds (and the min-max range beside it). ``--jobs 2`` runs two at a time,
each with half of the cores (on small models that finishes sooner than one
run at a time with all of them), their logs in ``run.log`` of each run.
"""
import argparse
import glob
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def run(cmd, stdout=None, env=None):
    if stdout is None:
        print('+', ' '.join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO, stdout=stdout, env=env,
                   stderr=subprocess.STDOUT if stdout else None)


def last_metrics(test_dir):
    files = sorted(glob.glob(osp.join(test_dir, '*', '*.json')))
    if not files:
        raise FileNotFoundError(f'tools/test.py wrote no metrics in {test_dir}')
    with open(files[-1]) as f:
        return json.load(f)


#: What DilationLoggerHook logs per PAD layer besides the shares, printed
#: beside them ("is my PAD learning?").
LEARNING = ('entropy', 'prior_grad_norm')


def last_val_metrics(work_dir):
    """The metrics of the last validation during training (the scalars that
    MMEngine's logger wrote), or ``{}`` when training never validated."""
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    metrics = {}
    if files:
        with open(files[-1]) as f:
            for line in f:
                record = json.loads(line)
                if 'mIoU' in record:
                    metrics = {k: v for k, v in record.items()
                               if k not in ('step', 'data_time', 'time')}
    return metrics


def last_pad_scalars(work_dir):
    """From the last logged training step: ``{layer: {dilation: share}}``
    and ``{layer: {name: value}}`` for the names of :data:`LEARNING`."""
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    shares, learning = {}, {}
    if not files:
        return shares, learning
    with open(files[-1]) as f:
        for line in f:
            record = json.loads(line)
            for key, value in record.items():
                # the logger drops the 'train/' of 'train/pad/<layer>/...'
                key = key[len('train/'):] if key.startswith('train/') else key
                if not key.startswith('pad/'):
                    continue
                layer, _, name = key[len('pad/'):].rpartition('/')
                if name.startswith('share_d'):
                    shares.setdefault(layer, {})[int(name[7:])] = value
                elif name in LEARNING:
                    learning.setdefault(layer, {})[name] = value
    return shares, learning


def summary(values):
    mean = statistics.mean(values)
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, spread, min(values), max(values)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('entries', nargs='+', metavar='NAME=CONFIG')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--jobs', type=int, default=1,
                        help='runs at a time (each with its share of the '
                        'cores; logs in <work-dir>/<name>/seed<s>/run.log)')
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='options for every entry, k=v')
    parser.add_argument('--set', nargs='+', action='append', default=[],
                        metavar='NAME k=v', help='options for one entry')
    args = parser.parse_args(argv)
    entries = {}
    for entry in args.entries:
        name, sep, config = entry.partition('=')
        if not sep or not name or not osp.isfile(osp.join(REPO, config)):
            parser.error(f'{entry!r} is not NAME=CONFIG with an existing '
                         'config file')
        entries[name] = config
    extra = defaultdict(list)
    for item in args.set:
        if item[0] not in entries or len(item) < 2:
            parser.error(f'--set {" ".join(item)}: name an entry '
                         f'({", ".join(entries)}) and k=v options')
        extra[item[0]] += item[1:]
    if len(args.seeds) != len(set(args.seeds)):
        parser.error(f'--seeds must differ, got {args.seeds}')
    if args.jobs < 1:
        parser.error(f'--jobs must be >= 1, got {args.jobs}')
    return args, entries, extra


def train_and_test(python, config, work_dir, options, test_options,
                   log=None, env=None):
    """One run through the real tools: train, then test the last
    checkpoint. Returns the test metrics (the config's test split). With
    ``log`` (a path) the tools' output goes there instead of the terminal;
    ``env``: their environment."""
    out = open(log, 'w') if log else None
    try:
        run([python, 'tools/train.py', config, '--work-dir', work_dir,
             '--cfg-options'] + options, stdout=out, env=env)
        checkpoints = sorted(glob.glob(osp.join(work_dir, 'iter_*.pth')),
                             key=lambda p: int(p.rsplit('_', 1)[1][:-4]))
        run([python, 'tools/test.py', config, checkpoints[-1], '--work-dir',
             osp.join(work_dir, 'test')] +
            (['--cfg-options'] + test_options if test_options else []),
            stdout=out, env=env)
    finally:
        if out:
            out.close()
    return last_metrics(osp.join(work_dir, 'test'))


def run_all(entries, seeds, work_root, common, extra, jobs=1):
    """Every entry over every seed, ``jobs`` runs at a time (each with its
    share of the CPU threads, its output in ``<work dir>/run.log``), with a
    line of progress per finished run. Returns the runs in entry order."""
    python = sys.executable
    todo = [(name, config, seed) for name, config in entries.items()
            for seed in seeds]
    env = None
    if jobs > 1:  # the runs share the cores instead of each using them all
        threads = str(max(1, (os.cpu_count() or 1) // jobs))
        env = dict(os.environ, OMP_NUM_THREADS=threads,
                   MKL_NUM_THREADS=threads)

    def one(item):
        name, config, seed = item
        work_dir = osp.join(work_root, name, f'seed{seed}')
        os.makedirs(work_dir, exist_ok=True)
        started = time.time()
        metrics = train_and_test(
            python, config, work_dir,
            common + extra[name] + [f'randomness.seed={seed}'],
            common + extra[name],
            log=osp.join(work_dir, 'run.log') if jobs > 1 else None,
            env=env)
        shares, learning = last_pad_scalars(work_dir)
        return dict(name=name, seed=seed, mIoU=metrics['mIoU'],
                    test_metrics=metrics,
                    val_metrics=last_val_metrics(work_dir), shares=shares,
                    learning=learning,
                    seconds=round(time.time() - started, 1))

    runs = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(one, item) for item in todo]
        for future in as_completed(futures):
            result = future.result()
            runs.append(result)
            print(f'[{len(runs)}/{len(todo)}] {result["name"]} seed '
                  f'{result["seed"]}: mIoU {result["mIoU"]:.2f} '
                  f'({result["seconds"]:.0f} s)', flush=True)
    order = {(name, seed): i for i, (name, _, seed) in enumerate(todo)}
    return sorted(runs, key=lambda r: order[(r['name'], r['seed'])])


def table(entries, runs):
    """The markdown table of mean +- spread per entry and, for PAD entries,
    the dilation shares per layer."""
    lines = ['| model | seeds | mIoU mean | spread (std) | min - max |',
             '|---|---|---|---|---|']
    for name in entries:
        values = [r['mIoU'] for r in runs if r['name'] == name]
        mean, spread, low, high = summary(values)
        lines.append(f'| {name} | {len(values)} | {mean:.2f} | {spread:.2f} '
                     f'| {low:.2f} - {high:.2f} |')
    for name in entries:
        per_layer = defaultdict(lambda: defaultdict(list))
        for r in runs:
            if r['name'] == name:
                for layer, shares in r['shares'].items():
                    for dilation, share in shares.items():
                        per_layer[layer][dilation].append(share)
                for layer, values in r.get('learning', {}).items():
                    for key, value in values.items():
                        per_layer[layer][key].append(value)
        if per_layer:
            columns = sorted(k for k in next(iter(per_layer.values()))
                             if isinstance(k, int))
            columns += [k for k in LEARNING
                        if k in next(iter(per_layer.values()))]
            lines += ['', f'{name}: share of training pixels per dilation, '
                      'entropy (nats) of the dilation law and norm of the '
                      "prior's gradient at the last logged step (mean over "
                      'seeds)', '',
                      '| layer | ' + ' | '.join(
                          f'd={c}' if isinstance(c, int) else c
                          for c in columns) + ' |',
                      '|---|' + '---|' * len(columns)]
            for layer, values in per_layer.items():
                lines.append(f'| {layer} | ' + ' | '.join(
                    f'{statistics.mean(values[c]):.3g}' if values[c] else '-'
                    for c in columns) + ' |')
    return '\n'.join(lines)


def main(argv=None):
    args, entries, extra = parse_args(argv)
    runs = run_all(entries, args.seeds, args.work_dir, args.cfg_options,
                   extra, args.jobs)
    text = table(entries, runs)
    print('\n' + text)
    with open(osp.join(args.work_dir, 'results.md'), 'w') as f:
        f.write(text + '\n')
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump(runs, f, indent=1)


if __name__ == '__main__':
    main()
