"""padseg/evaluation/object_size_iou.py: ObjectSizeIoU built from a config
as mmseg's evaluator builds it, fed mmseg's data samples."""
import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample


def sample(label, pred):
    data = SegDataSample()
    data.gt_sem_seg = PixelData(data=torch.from_numpy(label)[None])
    data.pred_sem_seg = PixelData(data=torch.from_numpy(pred)[None])
    return data.to_dict()


def scene():
    """A small square (sqrt(area) 4) and a large one (20) of class 1."""
    label = np.zeros((40, 40), np.int64)
    label[2:6, 2:6] = 1
    label[15:35, 15:35] = 1
    return label


def test_iou_per_size_bin_through_mmengines_evaluator():
    init_default_scope('mmseg')
    evaluator = Evaluator([dict(type='ObjectSizeIoU', size_bins=(10, ))])
    label = scene()
    missed_small = label.copy()
    missed_small[2:6, 2:6] = 0
    # two images: one perfect, one with the small square missed
    evaluator.process([sample(label, label), sample(label, missed_small)])
    metrics = evaluator.evaluate(2)
    assert metrics['objIoU_<10px'] == pytest.approx(50.0)  # 16 of 32 pixels
    assert metrics['objIoU_>=10px'] == pytest.approx(100.0)
    assert metrics['objects_<10px'] == 2 and metrics['objects_>=10px'] == 2


def test_a_bin_without_objects_is_nan_and_bad_bins_are_named():
    init_default_scope('mmseg')
    evaluator = Evaluator([dict(type='ObjectSizeIoU', size_bins=(50, ))])
    evaluator.process([sample(scene(), scene())])
    metrics = evaluator.evaluate(1)
    assert np.isnan(metrics['objIoU_>=50px']) and metrics['objects_>=50px'] == 0
    with pytest.raises(ValueError, match='increasing'):
        Evaluator([dict(type='ObjectSizeIoU', size_bins=(20, 10))])
