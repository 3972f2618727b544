"""IoU per object-size bin: does a model get small objects right, large
ones, or both? The number that shows why one receptive field does not fit
every pixel (docs/main_job.md)."""
from typing import Dict, List, Sequence

from mmengine.evaluator import BaseMetric
from mmseg.registry import METRICS

from padseg.analysis.object_size import object_overlap_by_size, size_bin_names

__all__ = ['ObjectSizeIoU']


@METRICS.register_module()
class ObjectSizeIoU(BaseMetric):
    """IoU of the labelled objects with the prediction, per size bin.

    An object is a connected region of one class in the label map; its size
    is ``sqrt(area)`` in pixels. Each object is compared with the pixels
    predicted as its class in its bounding box grown by a quarter of its
    size (:func:`padseg.analysis.object_overlap_by_size`); intersections and
    unions are summed over the objects of a bin and the dataset, so a bin's
    value is the pixel-weighted IoU of the objects of that size. Keys:
    ``objIoU_<bin>`` (in %), e.g. ``objIoU_<16px``, and ``objects_<bin>``,
    the number of objects counted.

    Use beside mmseg's ``IoUMetric``::

        test_evaluator = [dict(type='IoUMetric', iou_metrics=['mIoU']),
                          dict(type='ObjectSizeIoU', size_bins=(16, 32),
                               exclude_classes=(0, ))]

    Args:
        size_bins (Sequence[float]): Increasing ``sqrt(area)`` edges in
            pixels of the original label map. Default: ``(16, 32)``.
        exclude_classes (Sequence[int]): Classes that are no object, e.g.
            the background 0. Default: ``(0, )``.
        ignore_index (int): Label value that counts nowhere. Default: 255.
        collect_device (str), prefix (str, optional): As ``BaseMetric``.
    """

    def __init__(self,
                 size_bins: Sequence[float] = (16, 32),
                 exclude_classes: Sequence[int] = (0, ),
                 ignore_index: int = 255,
                 collect_device: str = 'cpu',
                 prefix=None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.names = size_bin_names(size_bins)  # checks the edges
        self.size_bins = tuple(float(e) for e in size_bins)
        self.exclude_classes = tuple(int(c) for c in exclude_classes)
        self.ignore_index = ignore_index

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            pred = sample['pred_sem_seg']['data'].squeeze(0).cpu().numpy()
            label = sample['gt_sem_seg']['data'].squeeze(0).cpu().numpy()
            self.results.append(object_overlap_by_size(
                pred, label, self.size_bins, self.ignore_index,
                self.exclude_classes))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        totals = sum(results)
        metrics = {}
        for name, (inter, union, count) in zip(self.names, totals):
            metrics[f'objIoU_{name}'] = (float(100 * inter / union)
                                         if union else float('nan'))
            metrics[f'objects_{name}'] = int(count)
        return metrics
