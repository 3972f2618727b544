"""tools/train.py and tools/test.py on PAD segmentation configs: train, save,
resume, test, --tta, and a 2-process CPU torchrun run."""
import os.path as osp
import re

import pytest

from digits_scenes import make_digits_voc
from helpers.tools import (REPO, read_metrics, run_tool, short_schedule,
                    tiny_voc_data, write_config)
from padseg.engine.checkpoint import load_local_checkpoint

PAD_DEEPLAB = osp.join(
    REPO, 'configs/digits/deeplabv3plus_pad-r18w16-os8_1xb8-1k_digits-96x96.py')
PAD_FCN8S = osp.join(
    REPO, 'configs/fcn_vgg/fcn8s_pad-vgg16_1xb1-300k_voc12aug-500x500.py')

# The real FCN-8s config at a sixteenth of VGG-16's width, no download.
NARROW_FCN8S = '''
model = dict(
    backbone=dict(base_channels=4, fc_channels=32, init_cfg=None),
    decode_head=dict(in_channels=(16, 32, 32)))
'''


@pytest.fixture(scope='module')
def voc_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('digits_voc')
    make_digits_voc(str(root), num_train=4, num_val=2, image_size=(64, 64),
                    seed=1)
    return str(root / 'VOC2012')


def checkpoint_state(path):
    # padseg's loader: it allows MMEngine's objects again before loading
    # (onedl-mmengine's loader removes them from torch's list after use)
    return load_local_checkpoint(path, map_location='cpu')


@pytest.mark.parametrize('name,base,extra', [
    ('deeplabv3plus', PAD_DEEPLAB, ''),
    ('fcn8s', PAD_FCN8S, NARROW_FCN8S),
])
def test_train_save_resume_test_tta(tmp_path, voc_root, name, base, extra):
    cfg = write_config(str(tmp_path / f'{name}_tiny.py'), base,
                       tiny_voc_data(voc_root) + short_schedule(2, 1))
    if extra:  # a second level: a config's later `model = ...` replaces
        cfg = write_config(str(tmp_path / f'{name}.py'), cfg, extra)
    work = str(tmp_path / 'work')
    run_tool(['tools/train.py', cfg, '--work-dir', work])
    for it in (1, 2):
        assert osp.isfile(osp.join(work, f'iter_{it}.pth'))
    ckpt = checkpoint_state(osp.join(work, 'iter_2.pth'))  # safe loading
    assert ckpt['meta']['iter'] == 2
    assert any('.aggregation.u_h' in k for k in ckpt['state_dict'])

    # resume continues at iteration 3 with the optimizer and tau restored
    cfg4 = write_config(str(tmp_path / f'{name}_4.py'), cfg,
                        short_schedule(3, 1))
    out = run_tool(['tools/train.py', cfg4, '--work-dir', work, '--resume'])
    assert re.search(r'resumed epoch: 0, iter: 2', out.stdout + out.stderr)
    resumed = checkpoint_state(osp.join(work, 'iter_3.pth'))
    assert resumed['meta']['iter'] == 3
    assert resumed['optimizer']['state']  # momentum buffers came along

    run_tool(['tools/test.py', cfg, osp.join(work, 'iter_3.pth'),
              '--work-dir', str(tmp_path / 'test')])
    metrics = read_metrics(str(tmp_path / 'test'))
    assert 0 <= metrics['mIoU'] <= 100 and 'aAcc' in metrics

    run_tool(['tools/test.py', cfg, osp.join(work, 'iter_3.pth'),
              '--work-dir', str(tmp_path / 'tta'), '--tta'])
    assert 0 <= read_metrics(str(tmp_path / 'tta'))['mIoU'] <= 100


def test_two_process_cpu_torchrun(tmp_path, voc_root):
    cfg = write_config(
        str(tmp_path / 'dist.py'), PAD_DEEPLAB,
        tiny_voc_data(voc_root, batch=2) + short_schedule(2, 2) + '''
model = dict(backbone=dict(pad_cfg=dict(aggregation='gated')))
''')
    work = str(tmp_path / 'work')
    out = run_tool([
        '-m', 'torch.distributed.run', '--nproc_per_node=2',
        '--master_port=29517', 'tools/train.py', cfg, '--work-dir', work,
        '--launcher', 'pytorch'
    ], timeout=900)
    log = out.stdout + out.stderr
    assert 'Expected to have finished reduction' not in log
    assert re.search(r'Distributed training: True', log)
    assert osp.isfile(osp.join(work, 'iter_2.pth'))
