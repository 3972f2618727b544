"""The second generated set, shapes (tools/dataset_converters/
shapes_scenes.py, make_shapes.py): deterministic scenes whose labels are the
shapes drawn, over a wide range of sizes, read by mmseg's BaseSegDataset
exactly as configs/shapes/ set it up."""
import importlib.util
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image
from scipy import ndimage
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS

from helpers import REPO
from padseg.analysis import object_areas
from shapes_scenes import (COLOUR_METAINFO, SHAPES_METAINFO, _mask,
                           make_shapes_voc, render_nested_rings,
                           render_shapes_scene)

CONFIG = 'configs/shapes/deeplabv3plus_pad-r18w16-os8_1xb8-1k_shapes-96x96.py'


def load_cli():
    """tools/dataset_converters/make_shapes.py as a module."""
    spec = importlib.util.spec_from_file_location(
        'make_shapes', osp.join(REPO, 'tools/dataset_converters/'
                                'make_shapes.py'))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    return cli


def test_same_seed_same_scene_and_labels_are_the_shapes():
    a = render_shapes_scene(np.random.default_rng(5))
    b = render_shapes_scene(np.random.default_rng(5))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    image, label = a
    assert image.shape == (96, 96, 3) and image.dtype == np.uint8
    assert set(np.unique(label)) <= {0, 1, 2, 3}
    # shapes are light, the background dim: labels follow the pixels
    bright = image.astype(float).mean(-1)
    assert bright[label > 0].mean() > bright[label == 0].mean() + 60


@pytest.mark.parametrize('kind, area', [(1, np.pi / 4), (2, 0.5),
                                        (3, 3 * np.sqrt(3) / 16)])
def test_each_kind_has_its_area(kind, area):
    """Circumradius 20: a disk, a square and an equilateral triangle
    inscribed in the same circle."""
    mask = _mask(kind, 40.0, (50.0, 50.0), 0.3, 100, 100)
    assert mask.sum() == pytest.approx(area * 40.0**2, rel=0.05)


def test_sizes_span_more_than_a_decade():
    rng = np.random.default_rng(0)
    sizes = []
    for _ in range(60):
        _, label = render_shapes_scene(rng, shapes_per_image=(1, 1))
        sizes.append((label > 0).sum())
    assert max(sizes) > 50 * max(1, min(sizes))


def test_cli_layout_read_by_the_configs_dataset(tmp_path):
    cli = load_cli()
    cli.main(['--out', str(tmp_path), '--num-train', '3', '--num-val', '2',
              '--size', '48', '64'])
    cfg = Config.fromfile(osp.join(REPO, CONFIG))
    dataset_cfg = cfg.val_dataloader.dataset.copy()
    dataset_cfg.data_root = str(tmp_path / 'VOC2012')
    init_default_scope('mmseg')  # as mmseg's tools do
    dataset = DATASETS.build(dataset_cfg)
    assert len(dataset) == 2
    assert dataset.metainfo['classes'] == SHAPES_METAINFO['classes']
    sample = dataset[1]
    gt = sample['data_samples'].gt_sem_seg.data.numpy()[0]
    expected = render_shapes_scene(np.random.default_rng([0, 11, 1]),
                                   (48, 64))[1]
    np.testing.assert_array_equal(gt, expected)
    assert cfg.model.decode_head.num_classes == len(SHAPES_METAINFO['classes'])


def test_bad_counts_are_named(tmp_path):
    with pytest.raises(ValueError, match='num_val'):
        make_shapes_voc(str(tmp_path), 2, 0)


def test_outline_draws_the_edge_and_labels_the_whole_shape():
    """Rings: the same shapes and labels as the solid scene, the inside of a
    large shape painted with the background, a band along the edge with the
    shape's colour."""
    solid_image, solid_label = render_shapes_scene(
        np.random.default_rng(3), size_range=(60.0, 60.0),
        shapes_per_image=(1, 1))
    ring_image, ring_label = render_shapes_scene(
        np.random.default_rng(3), size_range=(60.0, 60.0),
        shapes_per_image=(1, 1), outline=2)
    np.testing.assert_array_equal(ring_label, solid_label)
    inside = ring_label > 0
    changed = np.abs(ring_image.astype(int) - solid_image).sum(2) > 0
    assert not changed[~inside].any()  # the background is the same
    # the inside is the background now, not the shape's colour
    assert 0.5 < changed[inside].mean() < 1.0
    with pytest.raises(ValueError, match='outline'):
        render_shapes_scene(np.random.default_rng(3), outline=0)


def test_class_by_colour_labels_each_shape_by_its_dominant_channel():
    """Colour classes: every labelled pixel's drawn colour has its largest
    channel at the class's index (red 1, green 2, blue 3), whatever the
    outline; with rings the inside still carries the shape's class."""
    rng = np.random.default_rng(4)
    seen = set()
    for _ in range(12):
        image, label = render_shapes_scene(rng, shapes_per_image=(1, 3),
                                           class_by='colour')
        drawn = label > 0
        dominant = image.astype(int).argmax(-1) + 1
        # a few edge pixels blend with the background (anti-aliasing free,
        # but noise), so nearly all, not all
        assert (dominant[drawn] == label[drawn]).mean() > 0.97
        seen |= set(np.unique(label[drawn]).tolist())
    assert seen == {1, 2, 3}
    image, label = render_shapes_scene(
        np.random.default_rng(3), size_range=(60.0, 60.0),
        shapes_per_image=(1, 1), outline=2, class_by='colour')
    inside = label > 0
    assert inside.sum() > 1000 and len(np.unique(label[inside])) == 1
    with pytest.raises(ValueError, match='class_by'):
        render_shapes_scene(np.random.default_rng(3), class_by='hue')


def test_cli_class_by_colour_writes_the_colour_palette(tmp_path):
    cli = load_cli()
    cli.main(['--out', str(tmp_path), '--num-train', '2', '--num-val', '1',
              '--outline', '2', '--class-by', 'colour'])
    mask = Image.open(tmp_path / 'VOC2012' / 'SegmentationClass' /
                      sorted(os.listdir(tmp_path / 'VOC2012' /
                                        'SegmentationClass'))[0])
    assert mask.mode == 'P'
    palette = np.array(mask.getpalette()[:12]).reshape(4, 3)
    np.testing.assert_array_equal(palette, COLOUR_METAINFO['palette'])
    with pytest.raises(SystemExit):
        cli.main(['--out', str(tmp_path), '--class-by', 'hue'])


def test_nested_rings_put_small_rings_of_another_colour_in_large_ones():
    """The main job's scenes: large rings with small rings inside, each small
    ring's class differs from the large ring around it, and both sizes are
    there in one image."""
    rng = np.random.default_rng(7)
    nested = sizes_small = sizes_large = 0
    for _ in range(20):
        image, label = render_nested_rings(rng)
        assert image.shape == (96, 96, 3) and set(np.unique(label)) <= {
            0, 1, 2, 3}
        areas = object_areas(label, exclude=[0])
        size = np.sqrt(areas)
        sizes_small += int(np.nanmin(size) < 24)
        sizes_large += int(np.nanmax(size) >= 24)
        # a small region enclosed by a larger one of another class
        regions, count = ndimage.label(label > 0)
        for index in range(1, count + 1):
            classes = np.unique(label[regions == index])
            nested += int(len(classes) > 1)
    assert sizes_small >= 18 and sizes_large >= 18
    assert nested >= 10
    a = render_nested_rings(np.random.default_rng(3))
    b = render_nested_rings(np.random.default_rng(3))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    with pytest.raises(ValueError, match='inside'):
        render_nested_rings(np.random.default_rng(3), inside=1.5)


def test_three_disjoint_splits_from_their_own_streams(tmp_path):
    """train / val / test: separate random streams, a test.txt beside the
    others, and a split that does not change with another's size."""
    ids = make_shapes_voc(str(tmp_path / 'a'), 3, 2, (48, 48), num_test=4,
                          scene='nested')
    assert [len(ids[s]) for s in ('train', 'val', 'test')] == [3, 2, 4]
    sets = tmp_path / 'a' / 'VOC2012' / 'ImageSets' / 'Segmentation'
    assert len(open(sets / 'test.txt').read().split()) == 4
    jpegs = tmp_path / 'a' / 'VOC2012' / 'JPEGImages'
    pixels = {name: np.asarray(Image.open(jpegs / f'{name}.jpg'))
              for split in ids.values() for name in split}
    names = sorted(pixels)
    assert all(not np.array_equal(pixels[x], pixels[y])
               for i, x in enumerate(names) for y in names[i + 1:])
    make_shapes_voc(str(tmp_path / 'b'), 5, 1, (48, 48), num_test=4,
                    scene='nested')
    again = tmp_path / 'b' / 'VOC2012' / 'JPEGImages'
    for name in ids['test']:
        assert np.array_equal(pixels[name],
                              np.asarray(Image.open(again / f'{name}.jpg')))
    with pytest.raises(ValueError, match='scene'):
        make_shapes_voc(str(tmp_path), 2, 1, scene='spirals')
    with pytest.raises(ValueError, match='num_test'):
        make_shapes_voc(str(tmp_path), 2, 1, num_test=-1)


def test_cli_nested_scene_refuses_options_that_do_not_apply(tmp_path):
    cli = load_cli()
    cli.main(['--out', str(tmp_path), '--num-train', '2', '--num-val', '1',
              '--num-test', '2', '--scene', 'nested'])
    sets = tmp_path / 'VOC2012' / 'ImageSets' / 'Segmentation'
    assert len(open(sets / 'test.txt').read().split()) == 2
    with pytest.raises(SystemExit):
        cli.main(['--out', str(tmp_path), '--scene', 'nested', '--outline',
                  '2'])
