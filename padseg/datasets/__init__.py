"""Datasets: the generated multi-scale digits (no download), written in the
Pascal VOC, Cityscapes and mmpretrain folder layouts."""
from .digits import (DIGITS_METAINFO, DigitsVOCDataset, PlacedDigit,
                     digits_scenes, make_digits_cityscapes,
                     make_digits_classification, make_digits_voc,
                     render_digits_scene)

__all__ = [
    'DIGITS_METAINFO', 'DigitsVOCDataset', 'PlacedDigit',
    'render_digits_scene', 'digits_scenes', 'make_digits_voc',
    'make_digits_cityscapes', 'make_digits_classification'
]
