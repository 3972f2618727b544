"""The digits scenes and their writers (tools/dataset_converters/
digits_scenes.py, make_digits.py), read back by the stock dataset classes."""
import importlib.util
import os
import os.path as osp

import numpy as np
import pytest
from mmseg.datasets import CityscapesDataset
from PIL import Image

from digits_scenes import (digits_scenes, make_digits_cityscapes,
                           make_digits_classification, make_digits_voc,
                           render_digits_scene)
from helpers.digits_data import SIZE, seg_pipeline, voc_root  # noqa: F401
from padseg.datasets import DIGITS_METAINFO

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MAKERS = dict(
    voc=make_digits_voc,
    cityscapes=make_digits_cityscapes,
    cls=make_digits_classification)


def read_tree(root):
    """{relative path: bytes} of every file under root."""
    files = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = osp.join(folder, name)
            with open(path, 'rb') as f:
                files[osp.relpath(path, root)] = f.read()
    return files


@pytest.mark.parametrize('layout', sorted(MAKERS))
def test_same_seed_same_bytes(tmp_path, layout):
    trees = []
    for name, seed in (('a', 3), ('b', 3), ('c', 4)):
        MAKERS[layout](str(tmp_path / name), 3, 2, image_size=SIZE, seed=seed)
        trees.append(read_tree(tmp_path / name))
    assert len(trees[0]) >= 5
    assert trees[0] == trees[1]
    # Another seed: same file names, other images.
    assert trees[2].keys() == trees[0].keys()
    images = [
        p for p in trees[0]
        if p.endswith(('.jpg', 'leftImg8bit.png')) or layout == 'cls'
    ]
    assert images and all(trees[0][p] != trees[2][p] for p in images)


def test_image_does_not_depend_on_count():
    few = list(digits_scenes('train', 2, SIZE, seed=5))
    many = list(digits_scenes('train', 4, SIZE, seed=5))
    for (image_a, label_a, placed_a), (image_b, label_b,
                                       placed_b) in zip(few, many):
        np.testing.assert_array_equal(image_a, image_b)
        np.testing.assert_array_equal(label_a, label_b)
        assert placed_a == placed_b
    # Train and val are different streams: other layouts, not only other
    # digit samples.
    val = next(digits_scenes('val', 1, SIZE, seed=5))
    assert [p[1:] for p in val[2]] != [p[1:] for p in few[0][2]]


def test_voc_layout(voc_root):
    base = osp.join(voc_root, 'VOC2012')
    lists = {}
    for split in ('train', 'val', 'trainval'):
        with open(osp.join(base, 'ImageSets/Segmentation',
                           split + '.txt')) as f:
            lists[split] = f.read().split()
    assert lists['train'] == [f'train_{i:06d}' for i in range(4)]
    assert lists['val'] == [f'val_{i:06d}' for i in range(2)]
    assert lists['trainval'] == lists['train'] + lists['val']
    assert sorted(os.listdir(osp.join(base, 'JPEGImages'))) == sorted(
        name + '.jpg' for name in lists['trainval'])
    assert sorted(os.listdir(osp.join(base, 'SegmentationClass'))) == sorted(
        name + '.png' for name in lists['trainval'])
    for split in ('train', 'val'):
        scenes = digits_scenes(split, len(lists[split]), SIZE, seed=0)
        for name, (image, label, _) in zip(lists[split], scenes):
            jpeg = Image.open(osp.join(base, 'JPEGImages', name + '.jpg'))
            png = Image.open(
                osp.join(base, 'SegmentationClass', name + '.png'))
            assert jpeg.mode == 'RGB' and png.mode == 'P'
            assert jpeg.size == png.size == SIZE[::-1]
            indices = np.array(png)
            assert set(np.unique(indices)) <= set(range(11))
            assert indices.max() >= 1  # at least one digit
            np.testing.assert_array_equal(indices, label)
            # JPEG is lossy but close to the rendered image.
            error = np.abs(np.asarray(jpeg, np.float32) - image).mean()
            assert error < 6
    # The palette colours the classes like VOC.
    palette = np.array(png.getpalette()[:33]).reshape(11, 3)
    np.testing.assert_array_equal(palette, DIGITS_METAINFO['palette'])


def test_ignore_edges():
    plain = list(digits_scenes('train', 4, SIZE, seed=1))
    rims = list(digits_scenes('train', 4, SIZE, seed=1, ignore_edges=True))
    for (image_a, label_a, _), (image_b, label_b, _) in zip(plain, rims):
        np.testing.assert_array_equal(image_a, image_b)
        assert 255 not in label_a
        kept = label_b != 255
        # Only the rims change: everything else keeps its label.
        np.testing.assert_array_equal(label_a[kept], label_b[kept])
    assert sum((label == 255).sum() for _, label, _ in rims) > 0


def test_digit_sizes_span_scales():
    sizes = []
    for seed in range(60):
        rng = np.random.default_rng(seed)
        _, _, placed = render_digits_scene(
            rng,
            image_size=(32, 32),
            scale_range=(2.0, 12.0),
            digits_per_image=(3, 3))
        assert len(placed) == 3
        sizes += [p.size for p in placed]
    assert 16 <= min(sizes) <= 20 and 84 <= max(sizes) <= 96
    # Log-uniform: about as many digits below 8 * sqrt(24) px as above.
    below = np.mean(np.array(sizes) < 8 * np.sqrt(24))
    assert 0.35 < below < 0.65


def test_masks_follow_the_digit():
    heights = []
    for seed in range(20):
        _, label, placed = render_digits_scene(
            np.random.default_rng(seed),
            image_size=(80, 96),
            scale_range=(2.0, 10.0),
            digits_per_image=(1, 1),
            partial_prob=0.0)
        (digit, top, left, size), = placed
        assert label.shape == (80, 96)
        # Fully inside: one class, its pixels within the box.
        assert set(np.unique(label)) == {0, digit + 1}
        rows, cols = np.nonzero(label)
        assert rows.min() >= top and rows.max() < top + size
        assert cols.min() >= left and cols.max() < left + size
        heights.append((rows.max() - rows.min() + 1) / size)
    # Handwritten digits fill most of their 8x8 box's height.
    assert min(heights) > 0.6


def test_digit_larger_than_image_covers_it():
    _, label, placed = render_digits_scene(
        np.random.default_rng(0),
        image_size=(24, 24),
        scale_range=(8.0, 8.0),
        digits_per_image=(1, 1),
        partial_prob=0.0)
    (_, top, left, size), = placed
    assert size == 64 and -40 <= top <= 0 and -40 <= left <= 0
    assert label.max() > 0


def test_later_digit_wins():
    changed_pixels = 0
    for seed in range(30):
        options = dict(
            image_size=(48, 48), scale_range=(4.0, 6.0), partial_prob=0.0)
        # digits_per_image draws nothing when min == max, so both scenes
        # paste the same first digit.
        _, first, (one, ) = render_digits_scene(
            np.random.default_rng(seed), digits_per_image=(1, 1), **options)
        _, both, (one_again, two) = render_digits_scene(
            np.random.default_rng(seed), digits_per_image=(2, 2), **options)
        assert one == one_again
        changed = (first == one.digit + 1) & (both != first)
        assert (both[changed] == two.digit + 1).all()
        changed_pixels += changed.sum()
    assert changed_pixels > 100


def test_cityscapes_dataset(tmp_path):
    size = (48, 96)
    names = make_digits_cityscapes(
        str(tmp_path),
        num_train=3,
        num_val=2,
        image_size=size,
        seed=2,
        ignore_edges=True)
    assert names['train'] == [f'digits_000000_{i:06d}' for i in range(3)]
    assert osp.isfile(tmp_path / 'gtFine/val/digits' /
                      'digits_000000_000001_gtFine_labelTrainIds.png')
    for split, num in (('train', 3), ('val', 2)):
        dataset = CityscapesDataset(
            data_root=str(tmp_path),
            data_prefix=dict(
                img_path=f'leftImg8bit/{split}',
                seg_map_path=f'gtFine/{split}'),
            pipeline=seg_pipeline())
        assert len(dataset) == num
        assert len(dataset.metainfo['classes']) == 19
        scenes = digits_scenes(split, num, size, seed=2, ignore_edges=True)
        for index, (image, label, _) in enumerate(scenes):
            sample = dataset[index]
            assert sample['data_samples'].img_path.endswith(
                f'{split}/digits/digits_000000_{index:06d}_leftImg8bit.png')
            # PNG is lossless; LoadImageFromFile gives BGR.
            np.testing.assert_array_equal(
                sample['inputs'].numpy().transpose(1, 2, 0), image[..., ::-1])
            gt = sample['data_samples'].gt_sem_seg.data.numpy()[0]
            np.testing.assert_array_equal(gt, label)
            assert set(np.unique(gt)) <= set(range(11)) | {255}


def test_mmpretrain_custom_dataset(tmp_path):
    from mmpretrain.datasets import CustomDataset
    paths = make_digits_classification(
        str(tmp_path), num_train=12, num_val=3, image_size=(40, 48), seed=0)
    assert paths['train'][11] == osp.join('train', '1', '000011.png')
    for split, num in (('train', 12), ('val', 3)):
        dataset = CustomDataset(data_root=str(tmp_path), data_prefix=split)
        # All ten class folders exist even where val has no image yet.
        assert dataset.metainfo['classes'] == tuple(str(d) for d in range(10))
        assert len(dataset) == num
        labels = {}
        for index in range(num):
            info = dataset.get_data_info(index)
            digit = int(osp.basename(osp.dirname(info['img_path'])))
            assert info['gt_label'] == digit
            image_index = int(osp.basename(info['img_path'])[:-4])
            assert digit == image_index % 10
            labels[image_index] = digit
            assert Image.open(info['img_path']).size == (48, 40)
        assert sorted(labels) == list(range(num))


@pytest.mark.parametrize('layout', ['voc', 'cityscapes'])
@pytest.mark.parametrize('kwargs, name', [
    (dict(image_size=(0, 64)), 'image_size'),
    (dict(image_size=(64, )), 'image_size'),
    (dict(scale_range=(3.0, 2.0)), 'scale_range'),
    (dict(digits_per_image=(2, 1)), 'digits_per_image'),
    (dict(partial_prob=1.5), 'partial_prob'),
    (dict(seed=-1), 'seed'),
    (dict(num_train=-1), 'num_train'),
    (dict(num_val=2.0), 'num_val'),
])
def test_invalid_options(tmp_path, layout, kwargs, name):
    args = dict(num_train=1, num_val=1, image_size=(32, 32))
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        MAKERS[layout](str(tmp_path), **args)
    assert not os.listdir(tmp_path)  # checked before writing anything
    with pytest.raises(TypeError, match='scale_ranges'):
        MAKERS[layout](str(tmp_path), 1, 1, scale_ranges=(2, 3))


def test_invalid_classification_options(tmp_path):
    with pytest.raises(ValueError, match='scale_range'):  # must fit
        make_digits_classification(str(tmp_path), 1, 1, image_size=(12, 12))
    with pytest.raises(ValueError, match='num_val'):
        make_digits_classification(str(tmp_path), 1, -1)
    assert not os.listdir(tmp_path)


def test_cli(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        'make_digits', osp.join(REPO,
                                'tools/dataset_converters/make_digits.py'))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    cli.main([
        '--out',
        str(tmp_path), '--layout', 'voc', '--num-train', '2', '--num-val', '1',
        '--size', '32', '48', '--seed', '7', '--digits-per-image', '2', '2'
    ])
    out = capsys.readouterr().out
    assert 'train: 2 images' in out and 'val: 1 images' in out
    png = tmp_path / 'VOC2012/SegmentationClass/val_000000.png'
    assert Image.open(png).size == (48, 32)
    expected = next(
        digits_scenes('val', 1, (32, 48), seed=7, digits_per_image=(2, 2)))
    np.testing.assert_array_equal(np.array(Image.open(png)), expected[1])
    with pytest.raises(SystemExit):
        cli.main(['--out', str(tmp_path), '--layout', 'cls', '--ignore-edges'])
