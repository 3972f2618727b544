"""The main job: regular vs PAD DeepLabV3+ on the embedded digits dataset.

1. writes the digits dataset in the Pascal VOC layout (deterministic, seed 0);
2. trains both configs of ``configs/digits/`` with ``tools/train.py``;
3. tests both checkpoints with ``tools/test.py``;
4. prints their mIoU side by side (also saved as ``results.md``) and writes
   dilation maps of the PAD model for a few validation images.

    python tools/main_job.py [--work-dir work_dirs/main_job] [--max-iters N]
"""
import argparse
import os.path as osp
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, osp.join(REPO, 'tools'))
sys.path.insert(0, osp.join(REPO, 'tools', 'dataset_converters'))

from seed_study import last_metrics as latest_metrics  # noqa: E402
from seed_study import run  # noqa: E402

CONFIGS = {
    'regular': 'configs/digits/deeplabv3plus_r18w16-os8_1xb8-1k_digits-96x96.py',
    'PAD': 'configs/digits/deeplabv3plus_pad-r18w16-os8_1xb8-1k_digits-96x96.py',
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/main_job')
    parser.add_argument('--data-root', default='data/digits_voc')
    parser.add_argument('--num-train', type=int, default=400)
    parser.add_argument('--num-val', type=int, default=100)
    parser.add_argument('--max-iters', type=int, default=1000)
    args = parser.parse_args()

    from digits_scenes import make_digits_voc
    start = time.time()
    print(f'[1/4] writing the digits dataset to {args.data_root}', flush=True)
    make_digits_voc(args.data_root, num_train=args.num_train,
                    num_val=args.num_val, image_size=(96, 96), seed=0)
    data_root = osp.join(args.data_root, 'VOC2012')
    common = [
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
    ]
    schedule = [
        f'train_cfg.max_iters={args.max_iters}',
        f'train_cfg.val_interval={args.max_iters}',
        f'param_scheduler.0.end={args.max_iters}',
        f'default_hooks.checkpoint.interval={args.max_iters}',
    ]
    python = sys.executable
    results = {}
    for step, (name, config) in enumerate(CONFIGS.items(), start=2):
        work_dir = osp.join(args.work_dir, name)
        print(f'[{step}/4] training the {name} model ({config})', flush=True)
        run([python, 'tools/train.py', config, '--work-dir', work_dir,
             '--cfg-options'] + common + schedule)
        checkpoint = osp.join(work_dir, f'iter_{args.max_iters}.pth')
        test_dir = osp.join(work_dir, 'test')
        run([python, 'tools/test.py', config, checkpoint, '--work-dir',
             test_dir, '--cfg-options'] + common)
        results[name] = (latest_metrics(test_dir), checkpoint, config)

    print('[4/4] dilation maps of the PAD model', flush=True)
    maps_dir = osp.join(args.work_dir, 'dilation_maps')
    _, checkpoint, config = results['PAD']
    run([python, 'tools/analysis/dilation_maps.py', config, checkpoint,
         '--out-dir', maps_dir, '--num-images', '4', '--cfg-options'] + common)

    lines = ['| model | mIoU | mAcc | aAcc |', '|---|---|---|---|']
    for name, (metrics, _, _) in results.items():
        lines.append(f'| {name} | {metrics["mIoU"]:.2f} | '
                     f'{metrics["mAcc"]:.2f} | {metrics["aAcc"]:.2f} |')
    table = '\n'.join(lines)
    with open(osp.join(args.work_dir, 'results.md'), 'w') as f:
        f.write(table + '\n')
    print('\n' + table)
    print(f'\ndilation maps: {maps_dir}')
    print(f'total time: {(time.time() - start) / 60:.1f} min')


if __name__ == '__main__':
    main()
