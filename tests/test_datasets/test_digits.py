"""padseg's DigitsVOCDataset: the generated VOC layout under the 11 digit
class names, where the stock PascalVOCDataset reads the same indices under
VOC's names and refuses the digit names."""
import os.path as osp

import numpy as np
import pytest
from mmseg.datasets import PascalVOCDataset
from mmseg.registry import DATASETS

from digits_scenes import digits_scenes
from helpers.digits_data import SIZE, voc_dataset, voc_root  # noqa: F401
from padseg.datasets import DIGITS_METAINFO, DigitsVOCDataset


def test_pascal_voc_dataset_reads_digits(voc_root):
    dataset = voc_dataset(DigitsVOCDataset, voc_root, split='val')
    assert len(dataset) == 2
    assert dataset.metainfo['classes'] == DIGITS_METAINFO['classes']
    assert dataset.label_map is None
    scenes = list(digits_scenes('val', 2, SIZE, seed=0))
    for index, (_, label, _) in enumerate(scenes):
        sample = dataset[index]
        assert sample['inputs'].shape == (3, ) + SIZE
        gt = sample['data_samples'].gt_sem_seg.data.numpy()
        assert gt.shape == (1, ) + SIZE
        np.testing.assert_array_equal(gt[0], label)
    # Built from a config by its registered name.
    built = DATASETS.build(
        dict(
            type='DigitsVOCDataset',
            data_root=osp.join(voc_root, 'VOC2012'),
            data_prefix=dict(
                img_path='JPEGImages', seg_map_path='SegmentationClass'),
            ann_file='ImageSets/Segmentation/train.txt'))
    assert isinstance(built, DigitsVOCDataset) and len(built) == 4


def test_stock_pascal_voc_dataset(voc_root):
    # The stock class reads the same indices under VOC's 21 names ...
    dataset = voc_dataset(PascalVOCDataset, voc_root)
    label = next(digits_scenes('train', 1, SIZE, seed=0))[1]
    gt = dataset[0]['data_samples'].gt_sem_seg.data.numpy()[0]
    np.testing.assert_array_equal(gt, label)
    # ... and refuses the digit names as a metainfo override (not a subset
    # of its classes), which is why DigitsVOCDataset exists.
    with pytest.raises(ValueError, match='subset'):
        voc_dataset(PascalVOCDataset, voc_root, metainfo=DIGITS_METAINFO)
