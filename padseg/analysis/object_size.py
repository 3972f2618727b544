"""Does a PAD layer choose larger dilations on larger objects? A number.

The paper's claim (Figure 4) is that pixels pick their dilation by content;
for segmentation the plainest content is the size of the object a pixel
belongs to. Per PAD layer this module relates each pixel's expected dilation
``E[d_ij] = sum_k softmax(h_ij)_k d_k`` (see :mod:`padseg.analysis.dilation`)
to ``sqrt(area)`` of the ground-truth object under it, by Spearman's rank
correlation over the pixels of many images. An object is a connected region
of one class in the label map (8-connected), so it works on any semantic
segmentation dataset (VOC's background and Cityscapes' road are objects too,
unless excluded); ignored pixels never count.

A positive correlation: larger objects, larger dilations. The table also
gives the mean expected dilation on the smallest and largest third of the
pixels by object size.
"""
from collections import OrderedDict
from typing import Dict, List, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage, stats
from torch import Tensor, nn

from padseg.ops import pad_layers
from .data import Sample, preprocess, run_model
from .dilation import dilation_maps, record_priors

__all__ = [
    'object_areas', 'SizeCorrelation', 'size_correlation', 'label_of',
    'object_overlap_by_size', 'size_bin_names'
]

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def object_areas(label: np.ndarray, ignore_index: int = 255,
                 exclude: Sequence[int] = ()) -> np.ndarray:
    """Area in pixels of the object (connected region of one class) under
    each pixel of ``label`` (``(H, W)`` class indices); NaN at ignored and
    excluded pixels."""
    if label.ndim != 2:
        raise ValueError(f'label must be (H, W), got shape {label.shape}')
    areas = np.full(label.shape, np.nan)
    for value in np.unique(label):
        if value == ignore_index or value in exclude:
            continue
        regions, count = ndimage.label(label == value, _EIGHT_CONNECTED)
        sizes = np.bincount(regions.ravel(), minlength=count + 1)
        inside = regions > 0
        areas[inside] = sizes[regions[inside]]
    return areas


def size_bin_names(edges: Sequence[float]) -> List[str]:
    """Names of the size bins that ``edges`` (increasing ``sqrt(area)`` in
    pixels) cut: ``(16, 32)`` gives ``['<16px', '16-32px', '>=32px']``."""
    edges = [float(e) for e in edges]
    if any(e <= 0 for e in edges) or edges != sorted(set(edges)):
        raise ValueError(f'size bin edges must be positive and increasing, '
                         f'got {edges}')
    text = [f'{e:g}' for e in edges]
    return ([f'<{text[0]}px'] if text else ['all']) + [
        f'{a}-{b}px' for a, b in zip(text, text[1:])] + (
            [f'>={text[-1]}px'] if text else [])


def object_overlap_by_size(pred: np.ndarray, label: np.ndarray,
                           edges: Sequence[float], ignore_index: int = 255,
                           exclude: Sequence[int] = (),
                           margin: float = 0.25) -> np.ndarray:
    """Intersection and union of each labelled object with the prediction of
    its class, summed per object-size bin, and the number of objects:
    ``(len(edges) + 1, 3)``.

    An object is a connected region of one class (8-connected), its size
    ``sqrt(area)``, binned by ``edges``. Each object is compared with the
    pixels predicted as its class inside its bounding box grown by
    ``margin`` of its size (at least 2 px): a missed pixel and a spill of
    its class around it both count against it, a far object of the same
    class does not. ``intersection / union`` of a bin is the IoU of the
    objects of that size (pixel-weighted, over classes); ignored pixels
    count nowhere.
    """
    if pred.shape != label.shape or label.ndim != 2:
        raise ValueError(f'pred and label must be (H, W) of one shape, got '
                         f'{pred.shape} and {label.shape}')
    totals = np.zeros((len(edges) + 1, 3))
    valid = label != ignore_index
    height, width = label.shape
    for value in np.unique(label):
        if value == ignore_index or value in exclude:
            continue
        regions, _ = ndimage.label(label == value, _EIGHT_CONNECTED)
        for index, box in enumerate(ndimage.find_objects(regions), 1):
            rows, cols = box
            obj = regions[box] == index
            size = float(np.sqrt(obj.sum()))
            grow = int(round(max(2.0, margin * size)))
            top, left = max(0, rows.start - grow), max(0, cols.start - grow)
            window = (slice(top, min(height, rows.stop + grow)),
                      slice(left, min(width, cols.stop + grow)))
            mine = regions[window] == index
            hit = (pred[window] == value) & valid[window]
            b = int(np.searchsorted(edges, size, side='right'))
            totals[b, 0] += (mine & hit).sum()
            totals[b, 1] += (mine | hit).sum()
            totals[b, 2] += 1
    return totals


class SizeCorrelation:
    """Pairs (expected dilation, sqrt of object area) per layer, image by
    image; :meth:`summary` gives Spearman's rho per layer.

    Args:
        max_pixels (int): At most this many pixels of each image are kept
            (an even subsample), so that many large images fit in memory.
            Default: 4096.
    """

    def __init__(self, max_pixels: int = 4096) -> None:
        if max_pixels <= 0:
            raise ValueError(f'max_pixels must be > 0, got {max_pixels}')
        self.max_pixels = max_pixels
        self.pairs: Dict[str, list] = OrderedDict()

    def update(self, expected: Mapping[str, Tensor],
               areas: np.ndarray) -> None:
        """``expected``: per layer the expected dilation of one image, ``(H',
        W')`` on the layer's grid (resized here to the label's, nearest);
        ``areas``: :func:`object_areas` of its label."""
        valid = np.flatnonzero(~np.isnan(areas))
        if valid.size == 0:
            return
        step = max(1, valid.size // self.max_pixels)
        keep = valid[::step][:self.max_pixels]
        size = np.sqrt(areas.ravel()[keep])
        for name, values in expected.items():
            values = F.interpolate(values.float()[None, None],
                                   size=areas.shape, mode='nearest')[0, 0]
            self.pairs.setdefault(name, []).append(
                (values.flatten().numpy()[keep], size))

    def summary(self) -> Dict[str, dict]:
        """Per layer: ``rho`` (Spearman; NaN when either side is constant),
        ``pixels``, and the mean expected dilation on the smallest and the
        largest third of the pixels by object size."""
        out = OrderedDict()
        for name, chunks in self.pairs.items():
            dilation = np.concatenate([c[0] for c in chunks])
            size = np.concatenate([c[1] for c in chunks])
            constant = np.ptp(dilation) == 0 or np.ptp(size) == 0
            rho = np.nan if constant else stats.spearmanr(dilation,
                                                          size).statistic
            low, high = np.quantile(size, [1 / 3, 2 / 3])
            out[name] = dict(
                rho=float(rho), pixels=int(size.size),
                small_objects=float(dilation[size <= low].mean()),
                large_objects=float(dilation[size >= high].mean()))
        return out


def label_of(sample: Sample) -> np.ndarray:
    """The ground-truth label map ``(H, W)`` of a sample of an mmseg
    dataset."""
    seg = getattr(sample.data.get('data_samples'), 'gt_sem_seg', None)
    if seg is None:
        raise ValueError(f'image {sample.name} has no ground-truth label: '
                         'use a dataset split with annotations')
    return seg.data.squeeze(0).cpu().numpy()


def size_correlation(model: nn.Module, samples: Sequence[Sample],
                     ignore_index: int = 255, exclude: Sequence[int] = (),
                     max_pixels: int = 4096) -> Dict[str, dict]:
    """Run ``model`` (evaluation) on each sample and relate every PAD layer's
    expected dilation to the size of the labelled objects:
    :meth:`SizeCorrelation.summary`, in the layers' forward order."""
    correlation = SizeCorrelation(max_pixels)
    layers = dict(pad_layers(model))
    if not layers:
        raise ValueError('the model has no PAD layer')
    model.eval()
    for sample in samples:
        areas = object_areas(label_of(sample), ignore_index, exclude)
        with torch.no_grad(), record_priors(model) as priors:
            run_model(model, preprocess(model, sample))
            maps = dilation_maps(layers, priors)
        correlation.update({name: expected[0].cpu()
                            for name, (expected, _) in maps.items()}, areas)
    return correlation.summary()
