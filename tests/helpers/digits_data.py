"""The generated digits in the VOC layout, read by a dataset class as the
tests of the scenes and of DigitsVOCDataset need them."""
import os.path as osp

import pytest
from mmcv.transforms import LoadImageFromFile
from mmseg.datasets.transforms import LoadAnnotations, PackSegInputs

from digits_scenes import make_digits_voc

SIZE = (64, 64)


def seg_pipeline():
    return [LoadImageFromFile(), LoadAnnotations(), PackSegInputs()]


@pytest.fixture(scope='module')
def voc_root(tmp_path_factory):
    """4 train and 2 val scenes of ``SIZE``, seed 0."""
    root = str(tmp_path_factory.mktemp('voc'))
    make_digits_voc(root, num_train=4, num_val=2, image_size=SIZE, seed=0)
    return root


def voc_dataset(cls, root, split='train', **kwargs):
    return cls(
        data_root=osp.join(root, 'VOC2012'),
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file=f'ImageSets/Segmentation/{split}.txt',
        pipeline=seg_pipeline(),
        **kwargs)
