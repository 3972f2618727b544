"""The dataset configs read tiny datasets fabricated in the official on-disk
layouts through mmpretrain's own dataset classes."""
import os
import os.path as osp

import numpy as np
import pytest
import scipy.io
from helpers.cls_configs import load, make_imagenet, write_image
from mmpretrain.datasets.categories import (FGVCAIRCRAFT_CATEGORIES,
                                            STANFORDCARS_CATEGORIES)
from mmpretrain.registry import DATASETS

from digits_scenes import make_digits_classification

CARS = 'resnet/resnet50_8xb8-120e_stanford-cars-{}px.py'
AIRCRAFT = 'resnet/resnet50_8xb8-120e_fgvc-aircraft-{}px.py'


def build_split(config: str, loader: str, data_root: str):
    """The dataset of ``cfg.<loader>`` with its ``data_root`` replaced."""
    cfg = load(config)
    dataset_cfg = cfg[loader].dataset.copy()
    dataset_cfg.data_root = data_root
    return DATASETS.build(dataset_cfg)


def save_annotations(path: str, fields: dict) -> None:
    """A MATLAB struct array ``annotations`` (1 x N), as in the devkit."""
    names = list(fields)
    num = len(fields[names[0]])
    annotations = np.zeros((1, num), dtype=[(name, 'O') for name in names])
    for i in range(num):
        annotations[0, i] = tuple(
            value[i] if isinstance(value[i], str) else np.array(
                [[value[i]]], dtype=np.uint16)
            for value in fields.values())
    os.makedirs(osp.dirname(path), exist_ok=True)
    scipy.io.savemat(path, {'annotations': annotations})


def make_stanford_cars(root: str, labels: dict, layout: str) -> None:
    """Stanford Cars with 1-based ``class`` fields, in the devkit layout
    (``cars_{train,test}/`` + ``devkit/*.mat``) or the all-in-one layout
    (``car_ims/`` + ``cars_annos.mat`` with a ``test`` flag)."""
    box = dict(bbox_x1=[1] * 8, bbox_y1=[2] * 8, bbox_x2=[30] * 8,
               bbox_y2=[20] * 8)
    if layout == 'devkit':
        for split, annotation in (('train', 'cars_train_annos.mat'),
                                  ('test', 'cars_test_annos_withlabels.mat')):
            names = [f'{i:05d}.jpg' for i in range(1, len(labels[split]) + 1)]
            for i, name in enumerate(names):
                write_image(osp.join(root, f'cars_{split}', name), seed=i)
            save_annotations(
                osp.join(root, 'devkit', annotation),
                dict({k: v[:len(names)] for k, v in box.items()},
                     **{'class': [c + 1 for c in labels[split]]},
                     fname=names))
        return
    classes = labels['train'] + labels['test']
    names = [f'car_ims/{i:06d}.jpg' for i in range(1, len(classes) + 1)]
    for i, name in enumerate(names):
        write_image(osp.join(root, name), seed=i)
    save_annotations(
        osp.join(root, 'cars_annos.mat'),
        dict(relative_im_path=names,
             **{k: v[:len(names)] for k, v in box.items()},
             **{'class': [c + 1 for c in classes]},
             test=[0] * len(labels['train']) + [1] * len(labels['test'])))


@pytest.mark.parametrize('layout', ['devkit', 'all-in-one'])
@pytest.mark.parametrize('crop', [224, 448])
def test_stanford_cars_config_reads_official_layouts(tmp_path, crop, layout):
    labels = dict(train=[0, 195, 7], test=[3, 195])
    root = str(tmp_path / 'stanford_cars')
    make_stanford_cars(root, labels, layout)
    for loader, split in (('train_dataloader', 'train'),
                          ('test_dataloader', 'test')):
        dataset = build_split(CARS.format(crop), loader, root)
        assert type(dataset).__name__ == 'StanfordCars'
        assert dataset.metainfo['classes'] == STANFORDCARS_CATEGORIES
        assert [dataset.get_gt_labels()[i]
                for i in range(len(dataset))] == labels[split]
        assert dataset[0]['inputs'].shape == (3, crop, crop)


@pytest.mark.parametrize('crop', [224, 448])
def test_fgvc_aircraft_config_reads_official_layout(tmp_path, crop):
    variants = dict(trainval=['707-320', 'Cessna 172', 'Yak-42'],
                    test=['A340-600', 'Cessna 172'])
    root = str(tmp_path / 'fgvc_aircraft')
    for split, names in variants.items():
        lines = []
        for i, variant in enumerate(names):
            image_id = f'{1000000 + 10 * i + len(split)}'
            write_image(osp.join(root, 'data', 'images', image_id + '.jpg'),
                        seed=i)
            lines.append(f'{image_id} {variant}\n')
        with open(osp.join(root, 'data', f'images_variant_{split}.txt'),
                  'w') as f:
            f.writelines(lines)
    for loader, split in (('train_dataloader', 'trainval'),
                          ('test_dataloader', 'test')):
        dataset = build_split(AIRCRAFT.format(crop), loader, root)
        assert type(dataset).__name__ == 'FGVCAircraft'
        assert len(dataset.metainfo['classes']) == 100
        assert list(dataset.get_gt_labels()) == [
            FGVCAIRCRAFT_CATEGORIES.index(v) for v in variants[split]
        ]
        assert dataset[0]['inputs'].shape == (3, crop, crop)


def test_imagenet_config_reads_imagenet_layout(tmp_path):
    root = str(tmp_path / 'imagenet')
    make_imagenet(root, per_class=2)
    for loader in ('train_dataloader', 'test_dataloader'):
        dataset = build_split('resnet/resnet50_8xb24-120e_in1k.py', loader,
                              root)
        assert len(dataset.metainfo['classes']) == 1000
        assert list(dataset.get_gt_labels()) == [0, 0, 1, 1]
        assert dataset[0]['inputs'].shape == (3, 224, 224)


def test_digits_config_reads_digits_layout(tmp_path):
    root = str(tmp_path / 'digits_cls')
    make_digits_classification(root, num_train=20, num_val=10,
                               image_size=(64, 64))
    config = 'digits/resnet18-w16_1xb32-10e_digits-64px.py'
    for loader, num in (('train_dataloader', 20), ('test_dataloader', 10)):
        dataset = build_split(config, loader, root)
        assert dataset.metainfo['classes'] == tuple(map(str, range(10)))
        labels = list(dataset.get_gt_labels())
        assert sorted(labels) == sorted(i % 10 for i in range(num))
        for index in (0, num - 1):  # the label is the digit folder
            path = dataset.get_data_info(index)['img_path']
            assert int(osp.basename(osp.dirname(path))) == labels[index]
        assert dataset[0]['inputs'].shape == (3, 64, 64)
