"""The main job: does PAD beat the regular network and the best single fixed
dilation on the embedded digits dataset, by more than the noise?

1. writes the digits dataset in the Pascal VOC layout (deterministic, seed 0);
2. trains and tests three models over several seeds, two runs at a time,
   each through ``tools/train.py`` and ``tools/test.py`` (logs in
   ``<work-dir>/<model>/seed<s>/run.log``, one progress line per finished run):
   the regular network, the same network with one fixed dilation in layer4
   (the best single dilation of docs/pad_layer.md's study) and the PAD network;
3. prints mIoU as mean +- spread over the seeds, the PAD layers' share of
   training pixels per dilation with the entropy of their dilation law and
   the norm of their prior's gradient, and a verdict: whether PAD's mean
   beats the better of the two others by more than the spread;
4. writes dilation maps of the first seed's PAD model for a few val images
   and prints, per PAD layer, the rank correlation of its expected dilation
   with the size of the digit under each pixel.

    python tools/main_job.py [--work-dir work_dirs/main_job] [--seeds 0 1 2]
        [--max-iters 500] [--jobs 2]
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

REGULAR = 'configs/digits/deeplabv3plus_r18w16-os8_1xb8-1k_digits-96x96.py'
PAD = 'configs/digits/deeplabv3plus_pad-r18w16-os8_1xb8-1k_digits-96x96.py'
#: The best single dilation of layer4 in docs/pad_layer.md's study.
FIXED = ('fixed-d2', 'model.backbone.dilations=(1,1,1,2)')


def verdict(runs, pad='PAD') -> str:
    """One sentence: does PAD's mean beat the better other model's by more
    than the larger of the two spreads?"""
    stats = {}
    for name in dict.fromkeys(r['name'] for r in runs):
        stats[name] = summary([r['mIoU'] for r in runs if r['name'] == name])
    others = {n: s for n, s in stats.items() if n != pad}
    best = max(others, key=lambda n: others[n][0])
    gap = stats[pad][0] - others[best][0]
    noise = max(stats[pad][1], others[best][1])
    head = (f'PAD {stats[pad][0]:.2f} vs {best} {others[best][0]:.2f} mIoU '
            f'(mean of {len([r for r in runs if r["name"] == pad])} seeds): '
            f'{gap:+.2f}, spread {noise:.2f}. ')
    if gap > noise:
        return head + ('PAD wins by more than the spread over seeds.')
    if gap < -noise:
        return head + (f'PAD loses to {best} by more than the spread over '
                       'seeds.')
    return head + ('The difference is within the spread over seeds: this '
                   'job does not show that PAD beats a fixed dilation here.')


def size_lines(path) -> str:
    """The PAD model's object-size correlation, one line per layer."""
    with open(path) as f:
        results = json.load(f)
    lines = ['PAD (first seed): does a layer choose larger dilations on larger '
             'digits? Spearman rho of expected dilation vs sqrt(digit area), '
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
    parser.add_argument('--data-root', default='data/digits_voc')
    parser.add_argument('--num-train', type=int, default=400)
    parser.add_argument('--num-val', type=int, default=100)
    parser.add_argument('--max-iters', type=int, default=500)
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

    from digits_scenes import make_digits_voc
    start = time.time()
    print(f'[1/3] writing the digits dataset to {args.data_root}', flush=True)
    make_digits_voc(args.data_root, num_train=args.num_train,
                    num_val=args.num_val, image_size=(96, 96), seed=0)
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

    text = (table(entries, runs) + '\n\n' + size_lines(size_file) + '\n\n' +
            verdict(runs))
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
