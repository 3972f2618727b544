"""The digits dataset: multi-scale handwritten digits on textures, generated
on the spot (no download) by ``tools/dataset_converters/make_digits.py`` in
the Pascal VOC, Cityscapes and mmpretrain folder layouts, and read by the
stock OpenMMLab dataset classes. Only the VOC layout needs a class here, for
its 11 class names; see ``tools/dataset_converters/digits_scenes.py`` for the
scenes and their labels (background 0, digit ``k`` is ``k + 1``).
"""
from mmseg.datasets import PascalVOCDataset
from mmseg.registry import DATASETS

__all__ = ['DIGITS_METAINFO', 'DigitsVOCDataset']

# The first 11 colours of the Pascal VOC colour map, so the label PNGs look
# like VOC annotations.
DIGITS_METAINFO = dict(
    classes=('background', 'zero', 'one', 'two', 'three', 'four', 'five',
             'six', 'seven', 'eight', 'nine'),
    palette=[[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128],
             [128, 0, 128], [0, 128, 128], [128, 128, 128], [64, 0, 0],
             [192, 0, 0], [64, 128, 0]])


@DATASETS.register_module()
class DigitsVOCDataset(PascalVOCDataset):
    """Digits in the Pascal VOC layout with its 11 classes.

    ``PascalVOCDataset(metainfo=DIGITS_METAINFO)`` is refused by mmseg: a new
    class list must be a subset of the dataset's own classes (it is turned
    into a ``label_map``), and digit names are not VOC classes. This subclass
    only swaps ``METAINFO``, so no label map is built and the labels 0..10 of
    the generator writes (``tools/dataset_converters/make_digits.py``) reach
    the model unchanged. Arguments are those of ``PascalVOCDataset``.

    Example (after ``python tools/dataset_converters/make_digits.py --out
    data/VOCdevkit --num-train 8 --num-val 2``):
        >>> ds = DigitsVOCDataset(  # doctest: +SKIP
        ...     data_root='data/VOCdevkit/VOC2012',
        ...     data_prefix=dict(img_path='JPEGImages',
        ...                      seg_map_path='SegmentationClass'),
        ...     ann_file='ImageSets/Segmentation/train.txt')
        >>> len(ds), len(ds.metainfo['classes'])
        (8, 11)
    """
    METAINFO = DIGITS_METAINFO
