"""Evaluation metrics for mmseg's evaluator (registered in mmseg's
``METRICS``)."""
from .object_size_iou import ObjectSizeIoU

__all__ = ['ObjectSizeIoU']
