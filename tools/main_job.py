"""The main job: on embedded data where the receptive field decides, does
PAD beat the regular network and match the best single fixed dilation, by
more than the noise?

1. writes the rings dataset in the Pascal VOC layout (deterministic, seed 0;
   ``make_shapes_voc(..., outline=2, class_by='colour')``): shapes of 6-90 px
   drawn as a thin band, labelled (by colour) over their whole area, so a
   pixel inside a large ring needs a receptive field that reaches the ring;
2. trains and tests three models over several seeds, two runs at a time,
   each through ``tools/train.py`` and ``tools/test.py`` (logs in
   ``<work-dir>/<model>/seed<s>/run.log``, one progress line per finished
   run): the regular FCN (stem + layer1 of ResNetV1c-18 w16, output stride
   4, layer1 at dilation 1), the same network with layer1 at the best single
   fixed dilation of docs/pad_layer.md's study 5 (4), and the PAD network
   (PAD in layer1's four 3x3 convs, the shipped defaults);
3. prints mIoU as mean +- spread over the seeds, whether the benchmark tells
   the fixed dilations apart (best fixed vs regular, against the spread), the
   PAD layers' share of training pixels per dilation with the entropy of
   their dilation law and the norm of their prior's gradient, and a verdict:
   PAD against the regular network and against the best fixed dilation;
4. writes dilation maps of the first seed's PAD model for a few val images
   and prints, per PAD layer, the rank correlation of its expected dilation
   with the size of the object under each pixel.

    python tools/main_job.py [--work-dir work_dirs/main_job] [--seeds 0 1 2]
        [--max-iters 2000] [--jobs 2]
"""
import argparse
import json
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

REGULAR = 'configs/rings/fcn_r18w16-layer1_1xb8-2k_rings-96x96.py'
PAD = 'configs/rings/fcn_pad-r18w16-layer1_1xb8-2k_rings-96x96.py'
#: The best single dilation of layer1 in docs/pad_layer.md's study 5.
FIXED = ('fixed-d4', 'model.backbone.dilations=(4,)')


def _stats(runs):
    """``{model: (mean, spread, min, max)}`` in the order of ``runs``."""
    return {name: summary([r['mIoU'] for r in runs if r['name'] == name])
            for name in dict.fromkeys(r['name'] for r in runs)}


def _gap(stats, a, b):
    """``a``'s mean minus ``b``'s, and the larger of their two spreads."""
    return stats[a][0] - stats[b][0], max(stats[a][1], stats[b][1])


def _compare(stats, a, b) -> str:
    """``a`` against ``b``: the gap, the larger spread, and which side of it
    the gap lies on."""
    gap, noise = _gap(stats, a, b)
    head = (f'{a} {stats[a][0]:.2f} vs {b} {stats[b][0]:.2f} mIoU: '
            f'{gap:+.2f}, spread {noise:.2f}: ')
    if gap > noise:
        return head + f'{a} wins by more than the spread over seeds.'
    if gap < -noise:
        return head + f'{a} loses to {b} by more than the spread over seeds.'
    return head + 'within the spread over seeds.'


def discriminates(runs, regular='regular', fixed=FIXED[0]) -> str:
    """Can this benchmark tell models apart? The best fixed dilation against
    dilation 1 (the regular network), in units of the larger spread."""
    stats = _stats(runs)
    gap, noise = _gap(stats, fixed, regular)
    ratio = gap / noise if noise > 0 else float('inf')
    head = (f'Benchmark: {fixed} {stats[fixed][0]:.2f} vs {regular} '
            f'{stats[regular][0]:.2f} mIoU: {gap:+.2f}, {ratio:.1f} x the '
            f'spread ({noise:.2f}). ')
    if gap > noise:
        return head + ('The fixed dilations differ by more than the spread: '
                       'this benchmark tells models apart.')
    return head + ('The fixed dilations do not differ beyond the spread: this '
                   'run cannot tell models apart, and the verdict below '
                   'means little.')


def verdict(runs, pad='PAD', regular='regular', fixed=FIXED[0]) -> str:
    """PAD against the regular network and against the best fixed dilation,
    each gap against the larger of the two spreads, and one sentence on
    what that shows."""
    stats = _stats(runs)
    lines = [_compare(stats, pad, regular), _compare(stats, pad, fixed)]
    gap, noise = _gap(stats, pad, regular)
    beats_regular = gap > noise
    gap, noise = _gap(stats, pad, fixed)
    if beats_regular and gap > noise:
        last = ('PAD beats both the regular network and the best fixed '
                'dilation by more than the spread.')
    elif beats_regular and gap >= -noise:
        last = ('PAD beats the regular network by more than the spread and '
                'matches the best fixed dilation within it, without being '
                'told which dilation to use; it does not show a gain over '
                'that dilation here.')
    elif gap < -noise:
        last = ('PAD loses to the best fixed dilation by more than the '
                'spread.')
    else:
        last = ('PAD does not beat the regular network by more than the '
                'spread: this run does not show that PAD helps.')
    return (f'Verdict (mean of {len([r for r in runs if r["name"] == pad])} '
            'seeds):\n- ' + '\n- '.join(lines) + '\n' + last)


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
    parser.add_argument('--data-root', default='data/rings_voc')
    parser.add_argument('--num-train', type=int, default=400)
    parser.add_argument('--num-val', type=int, default=100)
    parser.add_argument('--max-iters', type=int, default=2000)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--jobs', type=int, default=2,
                        help='runs at a time (default 2: one per core)')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='k=v options for every model (tools/train.py '
                        'and tools/test.py)')
    args = parser.parse_args()
    if len(args.seeds) < 2 or len(set(args.seeds)) != len(args.seeds):
        parser.error('--seeds needs at least two different seeds (a spread)')
    if args.max_iters < 1 or args.jobs < 1:
        parser.error('--max-iters and --jobs must be positive')

    from shapes_scenes import make_shapes_voc
    start = time.time()
    print(f'[1/3] writing the rings dataset to {args.data_root}', flush=True)
    make_shapes_voc(args.data_root, args.num_train, args.num_val, (96, 96),
                    0, outline=2, class_by='colour')
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
    entries = {'regular': REGULAR, FIXED[0]: REGULAR, 'PAD': PAD}
    extra = {'regular': [], FIXED[0]: [FIXED[1]], 'PAD': []}
    print(f'[2/3] training and testing {len(entries)} models x '
          f'{len(args.seeds)} seeds ({args.max_iters} iterations each, '
          f'{args.jobs} at a time):', flush=True)
    for name, config in entries.items():
        print(f'    {name}: {config} {" ".join(extra[name])}', flush=True)
    runs = run_all(entries, args.seeds, args.work_dir, common, extra,
                   args.jobs)

    print('[3/3] dilation maps and object-size correlation of the PAD model '
          '(first seed)', flush=True)
    maps_dir = osp.join(args.work_dir, 'dilation_maps')
    checkpoint = osp.join(args.work_dir, 'PAD', f'seed{args.seeds[0]}',
                          f'iter_{args.max_iters}.pth')
    run([sys.executable, 'tools/analysis/dilation_maps.py', PAD, checkpoint,
         '--out-dir', maps_dir, '--num-images', '4', '--cfg-options'] +
        common[:3])
    size_file = osp.join(args.work_dir, 'size_correlation.json')
    run([sys.executable, 'tools/analysis/size_correlation.py', PAD,
         checkpoint, '--split', 'val', '--exclude-classes', '0', '--out',
         size_file, '--cfg-options'] + common[:3],
        stdout=subprocess.DEVNULL)

    text = '\n\n'.join([table(entries, runs), discriminates(runs),
                        size_lines(size_file), verdict(runs)])
    with open(osp.join(args.work_dir, 'results.md'), 'w') as f:
        f.write(text + '\n')
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump(runs, f, indent=1)
    print('\n' + text)
    per_run = statistics.mean(r['seconds'] for r in runs)
    print(f'\ndilation maps: {maps_dir}')
    print(f'total time: {(time.time() - start) / 60:.1f} min '
          f'({per_run:.0f} s per run, {args.jobs} at a time)')


if __name__ == '__main__':
    main()
