"""Every tool of tools/analysis on a tiny PAD model and its vanilla twin."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
from matplotlib.image import imread
from mmengine.config import Config

from padseg.analysis import load_samples

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

LAYER4_PAD = ['backbone.layer4.0.conv2', 'backbone.layer4.1.conv2',
              'backbone.layer4.2.conv2']


def tool(name):
    path = osp.join(REPO, 'tools', 'analysis', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'analysis_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def test_dilation_maps_cli_as_the_main_job_calls_it(tiny, tmp_path):
    out = tmp_path / 'maps'
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    subprocess.run(
        [sys.executable, 'tools/analysis/dilation_maps.py', tiny.pad_config,
         tiny.pad_checkpoint, '--out-dir', str(out), '--num-images', '4',
         '--cfg-options'] + tiny.cfg_options, cwd=REPO, env=env, check=True)
    assert sorted(os.listdir(out)) == [f'{i}.png' for i in tiny.val_ids[:4]]
    image = imread(str(out / f'{tiny.val_ids[0]}.png'))
    # input + 3 layers in a row, two rows (expected, argmax)
    assert image.shape[1] > 3 * image.shape[0] / 2


def test_dilation_maps_of_a_model_without_pad_is_an_error(tiny, tmp_path):
    with pytest.raises(ValueError, match='without PAD layers'):
        tool('dilation_maps')([
            tiny.vanilla_config, tiny.vanilla_checkpoint, '--out-dir',
            str(tmp_path), '--cfg-options'] + tiny.cfg_options)


def test_dilation_variance_table_and_json(tiny, tmp_path, capsys):
    out = tmp_path / 'variance.json'
    summary = tool('dilation_variance')([
        tiny.pad_config, tiny.pad_checkpoint, '--split', 'val', '--out',
        str(out), '--cfg-options'] + tiny.cfg_options)
    printed = capsys.readouterr().out
    assert f'{len(tiny.val_ids)} images' in printed
    assert all(f'| {name} | ' in printed for name in LAYER4_PAD + ['model'])
    saved = json.loads(out.read_text())
    assert saved['num_images'] == len(tiny.val_ids)
    assert list(saved['layers']) == LAYER4_PAD + ['model']
    for name in LAYER4_PAD:
        stats = saved['layers'][name]
        assert stats['pixels'] == len(tiny.val_ids) * 8 * 8  # output stride 8
        assert stats['variance'] == pytest.approx(
            stats['sampling_variance'] + stats['spatial_variance'])
        assert sum(stats['selected_share']) == pytest.approx(1.0)
    assert stats['candidates'] == [4, 8, 16]  # layer4 has dilation 4
    assert saved['layers']['model']['variance'] == pytest.approx(
        sum(saved['layers'][n]['variance'] for n in LAYER4_PAD) / 3)
    assert summary['model'] == saved['layers']['model']


def test_receptive_field_vanilla_and_pad(tiny, tmp_path):
    results = tool('receptive_field')([
        tiny.pad_config, tiny.pad_checkpoint, '--compare',
        tiny.vanilla_config, tiny.vanilla_checkpoint, '--layer',
        'backbone.layer1', '--num-images', '2', '--out-dir',
        str(tmp_path), '--cfg-options'] + tiny.cfg_options)
    assert [r['model'] for r in results] == ['pad', 'vanilla']
    # stem 3x3/2, 3x3, 3x3, max pool 3/2, then three 3x3 at stride 4:
    # 1 + 2*(1 + 2 + 2) + 2*2*2 ... = 39 pixels a side, at the centre unit
    for result in results:
        assert (result['height'], result['width']) == (39, 39)
        assert result['area'] == 39 * 39
        assert 0 < result['erf_r50'] <= result['erf_r95'] < 39
    assert json.loads((tmp_path / 'receptive_field.json').read_text()) == \
        results
    assert imread(str(tmp_path / 'receptive_field.png')).shape[0] > 100


def test_receptive_field_default_layer_is_the_last_pad_layer(tiny, tmp_path):
    results = tool('receptive_field')([
        tiny.pad_config, tiny.pad_checkpoint, '--num-images', '1',
        '--pixel', '0', '0', '--out-dir', str(tmp_path), '--cfg-options'
    ] + tiny.cfg_options)
    assert results[0]['layer'] == LAYER4_PAD[-1]
    assert results[0]['unit'] == [0, 0]


def test_activation_maps_side_by_side(tiny, tmp_path, capsys):
    paths = tool('activation_maps')([
        tiny.pad_config, tiny.pad_checkpoint, '--compare',
        tiny.vanilla_config, tiny.vanilla_checkpoint, '--num-images', '2',
        '--out-dir', str(tmp_path), '--cfg-options'] + tiny.cfg_options)
    assert sorted(os.listdir(tmp_path)) == [f'{i}.png'
                                            for i in tiny.val_ids[:2]]
    assert paths == [str(tmp_path / f'{i}.png') for i in tiny.val_ids[:2]]
    printed = capsys.readouterr().out
    assert 'pad ' in printed and 'vanilla ' in printed


def test_activation_maps_unknown_layer(tiny, tmp_path):
    with pytest.raises(ValueError, match='not a module'):
        tool('activation_maps')([
            tiny.pad_config, tiny.pad_checkpoint, '--layer', 'backbone.nope',
            '--out-dir', str(tmp_path), '--cfg-options'] + tiny.cfg_options)


def test_model_cost_of_mmseg_and_mmpretrain_configs(tiny, tmp_path, capsys):
    cls_config = tmp_path / 'vgg_pad_cls.py'
    cls_config.write_text(
        "default_scope = 'mmpretrain'\n"
        "model = dict(type='ImageClassifier', backbone=dict(type='VGG', "
        "depth=11, conv_cfg=dict(type='PAD')), "
        "neck=dict(type='GlobalAveragePooling'), head=dict("
        "type='LinearClsHead', num_classes=10, in_channels=512))\n")
    results = tool('model_cost')([
        tiny.pad_config, tiny.vanilla_config, str(cls_config), '--shape',
        '32', '32'])
    pad, vanilla, vgg = results
    assert pad['pad_params'] == sum(3 * 64 + 3 for _ in LAYER4_PAD)
    assert vanilla['pad_params'] == 0
    assert pad['params'] == vanilla['params'] + pad['pad_params']
    # layer4 runs at 4x4 (output stride 8) with 64 channels: two more 3x3
    # convs and a 1x1 prior conv per PAD layer
    extra = 3 * (2 * 64 * 64 * 9 * 4 * 4 + 3 * 64 * 4 * 4)
    assert pad['flops'] - vanilla['flops'] == extra
    vgg11_inputs = (3, 64, 128, 256, 256, 512, 512, 512)
    assert vgg['pad_params'] == sum(3 * c + 3 for c in vgg11_inputs)
    assert '| vgg_pad_cls | 32x32 |' in capsys.readouterr().out


def test_samples_go_through_the_test_pipeline_with_unique_names(tiny):
    cfg = Config.fromfile(tiny.pad_config)
    cfg.merge_from_dict(dict(item.split('=', 1) for item in tiny.cfg_options))
    split = load_samples(cfg, 'val', num_images=2)
    assert [s.name for s in split] == tiny.val_ids[:2]
    path = split[0].data['data_samples'].img_path
    files = load_samples(cfg, img_paths=[path, path])
    assert [s.name for s in files] == [f'{tiny.val_ids[0]}_{i}'
                                       for i in (0, 1)]
    # the same pixels, RGB (the pipeline reads BGR)
    assert (files[0].image == split[0].image).all()
    assert (files[0].image[..., ::-1] ==
            split[0].data['inputs'].permute(1, 2, 0).numpy()).all()
    assert 'gt_sem_seg' not in files[0].data['data_samples']
    with pytest.raises(ValueError, match='outside the val split'):
        load_samples(cfg, 'val', indices=[99])
