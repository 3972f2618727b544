"""The main job: does a per-pixel dilation (PAD) beat the best fixed
dilation, on data nothing was chosen on?

1. writes the nested rings (``make_shapes_voc(..., scene='nested')``) in the
   Pascal VOC layout: large rings whose inside needs a receptive field that
   reaches them, and small rings of other colours inside them, which a
   large field mixes with the large ring around them. Three disjoint splits
   from separate random streams: train, val and test;
2. trains every model over the seeds, two runs at a time, each through
   ``tools/train.py`` (which validates the last checkpoint on val) and
   ``tools/test.py`` (on test): the showcase FCN (stem + layer1 of
   ResNetV1c-18 w16 at output stride 4) with layer1 at dilation 1
   (``regular``), 2 (``fixed-d2``) and 4 (``fixed-d4``), and with PAD in
   layer1's four 3x3 convs (``PAD``, the layer's defaults). One seed gives
   every model the same data order and the same initial weights of the
   parts they share, so the models are compared seed by seed;
3. chooses on **val** only: the best fixed dilation is the fixed model with
   the highest mean val mIoU;
4. reports on **test** only: mIoU mean +- sd per model, the IoU of objects
   per size, whether the benchmark tells models apart (best fixed - regular
   against twice the larger spread), PAD - best fixed as the paired
   per-seed difference with its 95 % t-interval, PAD's dilation shares, a
   verdict and the goals of issue 31; then dilation maps and the object-size
   correlation of the first seed's PAD model (val images).

    python tools/main_job.py [--work-dir work_dirs/main_job]
        [--seeds 0 1 2 3 4] [--max-iters 1000] [--jobs 2]

Writes ``results.md`` (what it prints) and ``results.json`` (one record per
run: ``name``, ``seed``, ``val``, ``test`` (mIoU on each split),
``test_sizes`` (object IoU per size bin on test), ``shares``) in the work
directory.
"""
import argparse
import json
import math
import os.path as osp
import statistics
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, osp.join(REPO, 'tools'))
sys.path.insert(0, osp.join(REPO, 'tools', 'dataset_converters'))

from seed_study import run, run_all, summary, table  # noqa: E402

REGULAR = 'configs/nested/fcn_r18w16-layer1_1xb8-1k_nested-96x96.py'
PAD = 'configs/nested/fcn_pad-r18w16-layer1_1xb8-1k_nested-96x96.py'
#: The fixed-dilation models: the regular config with layer1 at dilation d.
FIXED = {'regular': 1, 'fixed-d2': 2, 'fixed-d4': 4}
#: A PAD layer "chooses per pixel" when no dilation takes more than this
#: share of its training pixels.
PER_PIXEL = 0.9


def records(runs):
    """One record per run: name, seed, mIoU on val and on test, the object
    IoU per size bin on test, the PAD layers' shares."""
    out = []
    for r in runs:
        sizes = {k[len('objIoU_'):]: v for k, v in r['test_metrics'].items()
                 if k.startswith('objIoU_')}
        out.append(dict(name=r['name'], seed=r['seed'],
                        val=r['val_metrics'].get('mIoU', float('nan')),
                        test=r['test_metrics']['mIoU'], test_sizes=sizes,
                        shares=r['shares'], learning=r['learning'],
                        seconds=r['seconds']))
    return out


def values(recs, name, key='test'):
    """``key`` of model ``name``'s records, ordered by seed."""
    return [r[key] for r in sorted(recs, key=lambda r: r['seed'])
            if r['name'] == name]


def best_fixed(recs):
    """The fixed model with the highest mean val mIoU (chosen on val)."""
    return max(FIXED, key=lambda name: statistics.mean(values(recs, name,
                                                              'val')))


def t_quantile(dof: int) -> float:
    """The 97.5 % quantile of Student's t with ``dof`` degrees of freedom."""
    from scipy import stats
    return float(stats.t.ppf(0.975, dof))


def paired(recs, a, b, split='test'):
    """``a - b`` seed by seed on ``split``: mean, sd and the 95 %
    t-interval of the mean difference, and the differences."""
    by_seed = {n: {r['seed']: r[split] for r in recs if r['name'] == n}
               for n in (a, b)}
    seeds = sorted(set(by_seed[a]) & set(by_seed[b]))
    diffs = [by_seed[a][s] - by_seed[b][s] for s in seeds]
    mean = statistics.mean(diffs)
    sd = statistics.stdev(diffs) if len(diffs) > 1 else float('nan')
    half = t_quantile(len(diffs) - 1) * sd / math.sqrt(len(diffs))
    return dict(mean=mean, sd=sd, low=mean - half, high=mean + half,
                diffs=diffs, seeds=seeds)


def interval_text(a, b, p) -> str:
    head = (f'{a} - {b} on test, paired by seed ({len(p["diffs"])} seeds: '
            + ', '.join(f'{d:+.2f}' for d in p['diffs']) +
            f'): {p["mean"]:+.2f} mIoU, 95 % interval [{p["low"]:+.2f}, '
            f'{p["high"]:+.2f}]: ')
    if p['low'] > 0:
        return head + f'{a} is better.'
    if p['high'] < 0:
        return head + f'{a} is worse.'
    return head + 'not distinguishable (the interval holds 0).'


def test_table(recs, names) -> str:
    lines = ['| model | seeds | val mIoU | test mIoU | test sd | test min - max |',
             '|---|---|---|---|---|---|']
    for name in names:
        val, test = values(recs, name, 'val'), values(recs, name)
        mean, sd, low, high = summary(test)
        lines.append(f'| {name} | {len(test)} | {statistics.mean(val):.2f} | '
                     f'{mean:.2f} | {sd:.2f} | {low:.2f} - {high:.2f} |')
    return '\n'.join(lines)


def size_table(recs, names) -> str:
    """Object IoU per size bin on test, mean +- sd over the seeds."""
    bins = list(next(r['test_sizes'] for r in recs))
    lines = ['IoU of the objects per size (sqrt(area); ObjectSizeIoU) on '
             'test, mean +- sd over seeds', '',
             '| model | ' + ' | '.join(bins) + ' |',
             '|---|' + '---|' * len(bins)]
    for name in names:
        cells = []
        for b in bins:
            mean, sd, _, _ = summary([r['test_sizes'][b] for r in recs
                                      if r['name'] == name])
            cells.append(f'{mean:.2f} +- {sd:.2f}')
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def discriminates(recs, best, regular='regular') -> str:
    """Can this benchmark tell models apart on test? The best fixed dilation
    against dilation 1, in units of the larger of their two spreads."""
    (b_mean, b_sd, _, _), (r_mean, r_sd, _, _) = (
        summary(values(recs, best)), summary(values(recs, regular)))
    gap, noise = b_mean - r_mean, max(b_sd, r_sd)
    ratio = gap / noise if noise > 0 else float('inf')
    head = (f'Benchmark (test): {best} {b_mean:.2f} vs {regular} '
            f'{r_mean:.2f} mIoU: {gap:+.2f}, {ratio:.1f} x the larger spread '
            f'({noise:.2f}). ')
    if ratio > 2:
        return head + ('More than twice the spread: this benchmark tells '
                       'models apart.')
    return head + ('Not more than twice the spread: this run cannot tell '
                   'models apart, and the verdict below means little.')


def per_pixel_layers(record):
    """The PAD layers of a run whose largest dilation share is at most
    :data:`PER_PIXEL`."""
    return [layer for layer, shares in record['shares'].items()
            if shares and max(shares.values()) <= PER_PIXEL]


def verdict(recs, best, pad='PAD', regular='regular') -> str:
    """PAD against the best fixed dilation (chosen on val) and the regular
    network, paired on test; PAD's spread; the goals of issue 31."""
    vs_best, vs_regular = paired(recs, pad, best), paired(recs, pad, regular)
    pad_sd, best_sd = summary(values(recs, pad))[1], summary(
        values(recs, best))[1]
    b_mean, r_mean = (statistics.mean(values(recs, n))
                      for n in (best, regular))
    spread = max(summary(values(recs, n))[1] for n in (best, regular))
    pad_runs = [r for r in recs if r['name'] == pad]
    choosing = [len(per_pixel_layers(r)) for r in pad_runs]
    goals = [
        (vs_best['mean'] >= 1.5 and vs_best['low'] > 0,
         f'PAD - best fixed >= +1.5 mIoU with the interval above 0 '
         f'({vs_best["mean"]:+.2f}, [{vs_best["low"]:+.2f}, '
         f'{vs_best["high"]:+.2f}])'),
        (pad_sd <= 2 * best_sd,
         f"PAD's spread <= 2 x the best fixed's ({pad_sd:.2f} vs "
         f'{best_sd:.2f}, {pad_sd / best_sd if best_sd else float("inf"):.1f}'
         ' x)'),
        (b_mean - r_mean > 2 * spread,
         f'the benchmark discriminates ({best} - {regular} '
         f'{b_mean - r_mean:+.2f} vs 2 x {spread:.2f})'),
        (bool(pad_runs) and min(choosing) > 0,
         'the PAD layers use more than one dilation (layers with no dilation '
         f'above {PER_PIXEL:.0%} of pixels, per seed: '
         + ', '.join(str(c) for c in choosing) + ')'),
    ]
    lines = [f'Verdict ({len(vs_best["diffs"])} seeds; {best} chosen on val, '
             'all numbers on test):',
             '- ' + interval_text(pad, best, vs_best),
             '- ' + interval_text(pad, regular, vs_regular)]
    if vs_best['low'] > 0:
        lines.append('PAD beats the best fixed dilation on test.')
    elif vs_best['high'] < 0:
        lines.append('PAD loses to the best fixed dilation on test.')
    else:
        lines.append('PAD does not beat the best fixed dilation on test: the '
                     'two are not distinguishable over these seeds.')
    lines += ['', 'Goals (issue 31):'] + [
        f'- [{"x" if met else " "}] {text}' for met, text in goals]
    return '\n'.join(lines)


def size_lines(path) -> str:
    """The PAD model's object-size correlation, one line per layer."""
    with open(path) as f:
        results = json.load(f)
    lines = ['PAD (first seed): does a layer choose larger dilations on larger '
             'objects? Spearman rho of expected dilation vs sqrt(object area), '
             'val images (tools/analysis/size_correlation.py)', '',
             '| layer | rho | mean E[d] on the smallest / largest third |',
             '|---|---|---|']
    for layer, r in results.items():
        lines.append(f"| {layer} | {r['rho']:.3f} | {r['small_objects']:.2f} "
                     f"/ {r['large_objects']:.2f} |")
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/main_job')
    parser.add_argument('--data-root', default='data/nested_voc')
    parser.add_argument('--num-train', type=int, default=400)
    parser.add_argument('--num-val', type=int, default=100)
    parser.add_argument('--num-test', type=int, default=200)
    parser.add_argument('--max-iters', type=int, default=1000)
    parser.add_argument('--seeds', type=int, nargs='+',
                        default=[0, 1, 2, 3, 4])
    parser.add_argument('--jobs', type=int, default=2,
                        help='runs at a time (default 2: one per core)')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='k=v options for every model (tools/train.py '
                        'and tools/test.py)')
    args = parser.parse_args()
    if len(args.seeds) < 2 or len(set(args.seeds)) != len(args.seeds):
        parser.error('--seeds needs at least two different seeds (a paired '
                     'interval)')
    if min(args.max_iters, args.jobs, args.num_train, args.num_val,
           args.num_test) < 1:
        parser.error('--max-iters, --jobs and the split sizes must be '
                     'positive')

    from shapes_scenes import make_shapes_voc
    start = time.time()
    print(f'[1/3] writing the nested rings to {args.data_root} (train '
          f'{args.num_train}, val {args.num_val}, test {args.num_test})',
          flush=True)
    make_shapes_voc(args.data_root, args.num_train, args.num_val, (96, 96),
                    0, num_test=args.num_test, scene='nested')
    data_root = osp.join(args.data_root, 'VOC2012')
    common = [
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        f'train_cfg.max_iters={args.max_iters}',
        f'train_cfg.val_interval={args.max_iters}',
        f'param_scheduler.0.end={args.max_iters}',
        f'default_hooks.checkpoint.interval={args.max_iters}',
    ] + args.cfg_options
    entries = dict({name: REGULAR for name in FIXED}, PAD=PAD)
    extra = {name: [f'model.backbone.dilations=({d},)']
             for name, d in FIXED.items()}
    extra['PAD'] = []
    print(f'[2/3] training (val: the last checkpoint) and testing '
          f'{len(entries)} models x {len(args.seeds)} seeds '
          f'({args.max_iters} iterations each, {args.jobs} at a time):',
          flush=True)
    for name, config in entries.items():
        print(f'    {name}: {config} {" ".join(extra[name])}', flush=True)
    recs = records(run_all(entries, args.seeds, args.work_dir, common, extra,
                           args.jobs))
    best = best_fixed(recs)

    print('[3/3] dilation maps and object-size correlation of the PAD model '
          '(first seed, val)', flush=True)
    maps_dir = osp.join(args.work_dir, 'dilation_maps')
    checkpoint = osp.join(args.work_dir, 'PAD', f'seed{args.seeds[0]}',
                          f'iter_{args.max_iters}.pth')
    run([sys.executable, 'tools/analysis/dilation_maps.py', PAD, checkpoint,
         '--split', 'val', '--out-dir', maps_dir, '--num-images', '4',
         '--cfg-options'] + common[:3])
    size_file = osp.join(args.work_dir, 'size_correlation.json')
    run([sys.executable, 'tools/analysis/size_correlation.py', PAD,
         checkpoint, '--split', 'val', '--exclude-classes', '0', '--out',
         size_file, '--cfg-options'] + common[:3],
        stdout=subprocess.DEVNULL)

    chosen = (f'Best fixed dilation, chosen on val: {best} (val mIoU: ' +
              ', '.join(f'{n} {statistics.mean(values(recs, n, "val")):.2f}'
                        for n in FIXED) + ').')
    shares = table({'PAD': PAD}, [dict(r, mIoU=r['test']) for r in recs
                                  if r['name'] == 'PAD'])
    shares = shares[shares.index('PAD: share'):]
    text = '\n\n'.join([
        test_table(recs, entries), chosen, size_table(recs, entries),
        discriminates(recs, best), shares, size_lines(size_file),
        verdict(recs, best)])
    with open(osp.join(args.work_dir, 'results.md'), 'w') as f:
        f.write(text + '\n')
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump(recs, f, indent=1)
    print('\n' + text)
    per_run = statistics.mean(r['seconds'] for r in recs)
    print(f'\ndilation maps: {maps_dir}')
    print(f'total time: {(time.time() - start) / 60:.1f} min '
          f'({per_run:.0f} s per run, {args.jobs} at a time)')


if __name__ == '__main__':
    main()
