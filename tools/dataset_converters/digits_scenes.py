"""The digits scenes and their writers: a small multi-scale segmentation
dataset generated on the spot (the dataset converter
``make_digits.py`` is its command line).

Handwritten digits from scikit-learn's bundled UCI digits (``load_digits``:
1797 images of 8x8 px, shipped with scikit-learn, nothing is downloaded) are
upscaled by a factor of about 2 to 12 (16 to 96 px) and pasted on dim colour
textures (smooth noise, stripes, gradients), in a light colour (a dark one
where they cover a light digit). Objects of one class thus appear
at very different scales, which is what PAD's pixel-wise dilation is about,
and a model trains on it in minutes on a CPU.

The scenes are written in the real on-disk layouts of three datasets, so the
stock OpenMMLab dataset classes and configs read them unchanged:

- :func:`make_digits_voc`: Pascal VOC 2012 (mmseg ``PascalVOCDataset``; use
  padseg's ``DigitsVOCDataset`` for the 11 digit class names).
- :func:`make_digits_cityscapes`: Cityscapes ``leftImg8bit`` / ``gtFine``
  (mmseg ``CityscapesDataset``, its 19 classes unchanged).
- :func:`make_digits_classification`: one digit per image in class folders
  (mmpretrain ``CustomDataset``, 10 classes).

Labels. Background is 0 and digit ``k`` is ``k + 1`` (1..10), in both
segmentation layouts. For Cityscapes these are train ids, so background reads
as 'road' and digits 0..9 as 'sidewalk' .. 'vegetation'; ids 11..18 never
occur. With ``ignore_edges=True`` the soft rim of each digit (upscaled
intensity in [0.25, 0.5)) is labelled 255, the ignore index of both datasets,
like the boundary band of the VOC annotations.

Determinism. Image ``i`` of a split is drawn from its own
``numpy.random.Generator`` seeded with ``(seed, split, i)``: the same seed
gives byte-identical files, and image ``i`` does not depend on how many images
are made. Train and val images paste disjoint digit samples (every 5th
scikit-learn sample is kept for val), so val scores measure generalisation.
"""
import os
import os.path as osp
from functools import lru_cache
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple

import cv2
import numpy as np
from PIL import Image

from padseg.datasets.digits import DIGITS_METAINFO

__all__ = [
    'PlacedDigit', 'render_digits_scene', 'digits_scenes', 'make_digits_voc',
    'make_digits_cityscapes', 'make_digits_classification',
    'write_voc_layout'
]

IGNORE_INDEX = 255
# Upscaled intensity (0..1) at or above which a pixel belongs to the digit,
# and the lower end of the rim that ``ignore_edges`` marks as 255.
MASK_THRESHOLD = 0.5
EDGE_THRESHOLD = 0.25
# Background textures are dimmed into [BACKGROUND_LOW, BACKGROUND_LOW +
# BACKGROUND_SPAN] (see _texture).
BACKGROUND_LOW = 0.15
BACKGROUND_SPAN = 0.3
# Every VAL_EVERY-th scikit-learn sample is a val digit, the others train.
VAL_EVERY = 5
_SCENE_OPTIONS = ('scale_range', 'digits_per_image', 'partial_prob',
                  'ignore_edges')
# Separate random streams per split and per kind of image.
_STREAMS = {
    ('scene', 'train'): 0,
    ('scene', 'val'): 1,
    ('digit', 'train'): 2,
    ('digit', 'val'): 3
}


class PlacedDigit(NamedTuple):
    """One digit pasted in a scene: its box may reach outside the image.

    Attributes:
        digit (int): The digit, 0..9 (label ``digit + 1``).
        top (int): Row of the box's top edge (negative: cut at the top).
        left (int): Column of the box's left edge.
        size (int): Side of the square box in px (8 x the scale).
    """
    digit: int
    top: int
    left: int
    size: int


@lru_cache(maxsize=None)
def _digit_pool(split: str) -> Tuple[np.ndarray, np.ndarray]:
    """The split's 8x8 digit images (intensity 0..1) and their digits."""
    from sklearn.datasets import load_digits  # bundled data, no download
    data = load_digits()
    is_val = np.arange(len(data.target)) % VAL_EVERY == VAL_EVERY - 1
    keep = is_val if split == 'val' else ~is_val
    images = (data.images[keep] / 16.0).astype(np.float32)
    return images, data.target[keep].astype(np.int64)


def _image_rng(seed: int, kind: str, split: str,
               index: int) -> np.random.Generator:
    return np.random.default_rng([seed, _STREAMS[(kind, split)], index])


def _is_count(value) -> bool:
    return isinstance(value, (int, np.integer)) and value >= 0


def _is_size(value) -> bool:
    return len(value) == 2 and all(
        isinstance(v, (int, np.integer)) and v > 0 for v in value)


def _is_count_range(value) -> bool:
    low, high = value
    return _is_count(low) and _is_count(high) and low <= high


# What each checked option must be: (test, requirement in words).
_REQUIREMENTS = {
    'split': (lambda v: v in ('train', 'val'), "'train' or 'val'"),
    'num': (_is_count, 'an int >= 0'),
    'num_train': (_is_count, 'an int >= 0'),
    'num_val': (_is_count, 'an int >= 0'),
    'seed': (_is_count, 'an int >= 0'),
    'image_size': (_is_size, 'two positive ints (H, W)'),
    'scale_range': (lambda v: len(v) == 2 and 0 < v[0] <= v[1],
                    '(low, high) with 0 < low <= high'),
    'digits_per_image': (_is_count_range, '(min, max) ints, min <= max'),
    'partial_prob': (lambda v: 0.0 <= v <= 1.0, 'in [0, 1]'),
}


def _check_options(**options) -> None:
    """Raise ValueError naming the first given option that is wrong."""
    for name, value in options.items():
        is_valid, requirement = _REQUIREMENTS[name]
        try:
            valid = bool(is_valid(value))
        except (TypeError, ValueError):
            valid = False
        if not valid:
            raise ValueError(f'{name} must be {requirement}, got {value!r}')


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A random colour background, float32 (H, W, 3) in [0, 1]."""
    kind = rng.integers(3)
    if kind == 0:  # smooth noise: a coarse grid of colours, upsampled
        cells = int(rng.integers(2, 7))
        grid = rng.uniform(0.0, 1.0, size=(cells, cells, 3))
        image = cv2.resize(
            grid.astype(np.float32), (width, height),
            interpolation=cv2.INTER_CUBIC)
    else:
        angle = rng.uniform(0.0, np.pi)
        rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
        along = cols * np.cos(angle) + rows * np.sin(angle)
        if kind == 1:  # stripes of period 6..32 px
            period = rng.uniform(6.0, 32.0)
            phase = rng.uniform(0.0, 2 * np.pi)
            mix = 0.5 + 0.5 * np.sin(2 * np.pi * along / period + phase)
        else:  # linear gradient across the image
            mix = (along - along.min()) / max(float(np.ptp(along)), 1.0)
        mix = mix[..., None]
        first, second = rng.uniform(0.0, 1.0, size=(2, 3))
        image = first * (1.0 - mix) + second * mix
    image = image + rng.normal(0.0, 0.03, size=image.shape)
    # Dimmed (BACKGROUND_LOW/SPAN): the texture stays visible, but the digits
    # (light ones, see _blend) stand out by contrast, not by chance. At full
    # contrast a CPU-sized network trained for minutes did not learn which
    # digit is which (docs/main_job.md).
    image = BACKGROUND_LOW + BACKGROUND_SPAN * np.clip(image, 0.0, 1.0)
    return image.astype(np.float32)


def _blend(image: np.ndarray, glyph: np.ndarray, top: int, left: int,
           rng: np.random.Generator) -> Optional[Tuple[tuple, np.ndarray]]:
    """Blend one upscaled digit into ``image`` (in place) in a colour that
    contrasts with the background under it.

    The part of the box outside the image is cut off. Returns the window of
    the image that the digit covers and the digit's intensity there, or None
    when the box misses the image.
    """
    height, width = image.shape[:2]
    size = glyph.shape[0]
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + size, height), min(left + size, width)
    if y0 >= y1 or x0 >= x1:
        return None
    alpha = glyph[y0 - top:y1 - top, x0 - left:x1 - left]
    under = image[y0:y1, x0:x1]
    luminance = float(under.mean(axis=(0, 1)) @ (0.299, 0.587, 0.114))
    low = 0.0 if luminance > 0.5 else 0.7
    colour = rng.uniform(low, low + 0.3, 3).astype(np.float32)
    under[...] = under * (1.0 - alpha[..., None]) + colour * alpha[..., None]
    return (slice(y0, y1), slice(x0, x1)), alpha


def _upscale(digit_image: np.ndarray, size: int) -> np.ndarray:
    """Bilinear upscaling of an 8x8 intensity image to size x size."""
    return np.clip(
        cv2.resize(digit_image, (size, size), interpolation=cv2.INTER_LINEAR),
        0.0, 1.0)


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    # Log-uniform so that each octave of scale gets as many digits.
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def render_digits_scene(
    rng: np.random.Generator,
    split: str = 'train',
    image_size: Tuple[int, int] = (128, 128),
    scale_range: Tuple[float, float] = (2.0, 12.0),
    digits_per_image: Tuple[int, int] = (1, 4),
    partial_prob: float = 0.3,
    ignore_edges: bool = False,
) -> Tuple[np.ndarray, np.ndarray, List[PlacedDigit]]:
    """Render one segmentation scene: a few digits on a textured background.

    Args:
        rng (numpy.random.Generator): The source of all randomness.
        split (str): Which digit samples to paste, 'train' or 'val'.
            Defaults to 'train'.
        image_size (tuple[int, int]): (H, W). Defaults to (128, 128).
        scale_range (tuple[float, float]): Upscaling factor of the 8x8
            digits, drawn log-uniformly from [low, high]. Defaults to
            (2.0, 12.0), i.e. digits of 16 to 96 px.
        digits_per_image (tuple[int, int]): Inclusive range of the number of
            digits. Defaults to (1, 4).
        partial_prob (float): Chance that a digit is placed anywhere with its
            box centre inside the image (so it may be cut by the border);
            otherwise the box lies inside the image (centred range when the
            digit is larger than the image). Defaults to 0.3.
        ignore_edges (bool): Label the soft rim of the digits 255.
            Defaults to False.

    Returns:
        tuple: ``image`` uint8 (H, W, 3) RGB, ``label`` uint8 (H, W) with
        0 = background, ``k + 1`` = digit k (and 255 on rims if
        ``ignore_edges``), and the list of :class:`PlacedDigit` in paste
        order (later ones are on top).
    """
    _check_options(
        split=split,
        image_size=image_size,
        scale_range=scale_range,
        digits_per_image=digits_per_image,
        partial_prob=partial_prob)
    height, width = image_size
    pool_images, pool_digits = _digit_pool(split)
    image = _texture(rng, height, width)
    label = np.zeros((height, width), np.uint8)
    placed = []
    num_digits = int(
        rng.integers(digits_per_image[0], digits_per_image[1] + 1))
    for _ in range(num_digits):
        index = int(rng.integers(len(pool_digits)))
        size = max(1, round(8 * _log_uniform(rng, *scale_range)))
        if rng.uniform() < partial_prob:
            top = int(rng.integers(-(size // 2), height - size // 2))
            left = int(rng.integers(-(size // 2), width - size // 2))
        else:
            top = int(
                rng.integers(min(0, height - size),
                             max(0, height - size) + 1))
            left = int(
                rng.integers(min(0, width - size),
                             max(0, width - size) + 1))
        digit = int(pool_digits[index])
        placed.append(PlacedDigit(digit, top, left, size))
        covered = _blend(image, _upscale(pool_images[index], size), top, left,
                         rng)
        if covered is None:
            continue
        # Later digits overwrite earlier ones: the digit on top wins.
        window, alpha = covered
        target = label[window]
        if ignore_edges:
            rim = (alpha >= EDGE_THRESHOLD) & (alpha < MASK_THRESHOLD)
            target[rim] = IGNORE_INDEX
        target[alpha >= MASK_THRESHOLD] = digit + 1
    return (np.round(image * 255).astype(np.uint8), label, placed)


def digits_scenes(
    split: str,
    num: int,
    image_size: Tuple[int, int] = (128, 128),
    seed: int = 0,
    **scene_options,
) -> Iterator[Tuple[np.ndarray, np.ndarray, List[PlacedDigit]]]:
    """The ``num`` scenes of a split, as the layout writers save them.

    Args:
        split (str): 'train' or 'val'.
        num (int): Number of scenes.
        image_size (tuple[int, int]): (H, W). Defaults to (128, 128).
        seed (int): Seed; scene ``i`` uses the stream ``(seed, split, i)``.
            Defaults to 0.
        **scene_options: ``scale_range``, ``digits_per_image``,
            ``partial_prob``, ``ignore_edges`` of
            :func:`render_digits_scene`.

    Returns:
        Iterator: ``(image, label, placed)`` tuples rendered on demand.
    """
    unknown = set(scene_options) - set(_SCENE_OPTIONS)
    if unknown:
        raise TypeError(f'unknown scene options {sorted(unknown)}, '
                        f'expected some of {_SCENE_OPTIONS}')
    # Checked now, before a writer creates any folder.
    checked = {k: v for k, v in scene_options.items() if k in _REQUIREMENTS}
    _check_options(
        split=split, num=num, seed=seed, image_size=image_size, **checked)
    image_size = tuple(image_size)
    return (render_digits_scene(
        _image_rng(seed, 'scene', split, i), split, image_size,
        **scene_options) for i in range(num))


def _split_scenes(num_train: int, num_val: int, image_size: Tuple[int, int],
                  seed: int, scene_options: dict) -> Dict[str, Iterator]:
    """The scenes of both splits, all options checked."""
    _check_options(num_train=num_train, num_val=num_val)
    return {
        split: digits_scenes(split, num, image_size, seed, **scene_options)
        for split, num in (('train', num_train), ('val', num_val))
    }


def make_digits_voc(root: str,
                    num_train: int,
                    num_val: int,
                    image_size: Tuple[int, int] = (128, 128),
                    seed: int = 0,
                    **scene_options) -> Dict[str, List[str]]:
    """Write digit scenes in the Pascal VOC 2012 layout.

    .. code-block:: none

        root/VOC2012/JPEGImages/{train,val}_NNNNNN.jpg
        root/VOC2012/SegmentationClass/{train,val}_NNNNNN.png
        root/VOC2012/ImageSets/Segmentation/{train,val,trainval}.txt

    Labels are palette ('P' mode) PNGs like VOC's: their pixel values are the
    class indices (0..10, 255 for ignored rims), which is what mmseg's
    ``LoadAnnotations`` reads with its default 'pillow' decoder. Read them
    with :class:`DigitsVOCDataset` (11 digit classes) or with the stock
    ``PascalVOCDataset`` (the same indices under VOC's 21 class names). With
    ``root='data/VOCdevkit'`` mmseg's stock ``pascal_voc12.py`` dataset config
    finds the data where it expects it.

    Args:
        root (str): Output folder (created), e.g. 'data/VOCdevkit'.
        num_train (int): Number of train images.
        num_val (int): Number of val images.
        image_size (tuple[int, int]): (H, W). Defaults to (128, 128).
        seed (int): Seed. Defaults to 0.
        **scene_options: Options of :func:`render_digits_scene`.

    Returns:
        dict[str, list[str]]: The image ids of each split.
    """
    scenes = _split_scenes(num_train, num_val, image_size, seed, scene_options)
    return write_voc_layout(root, scenes, DIGITS_METAINFO['palette'])


def write_voc_layout(root: str, scenes: Dict[str, Iterator],
                     palette_colours: List[List[int]]) -> Dict[str, List[str]]:
    """Write ``{split: scenes}`` (``(image, label, ...)`` tuples) in the
    Pascal VOC 2012 layout under ``root/VOC2012``, labels as palette PNGs
    with ``palette_colours`` for the classes and VOC's rim colour for 255.
    Returns the image ids of each split."""
    base = osp.join(root, 'VOC2012')
    folders = [
        osp.join(base, name) for name in ('JPEGImages', 'SegmentationClass',
                                          'ImageSets/Segmentation')
    ]
    for folder in folders:
        os.makedirs(folder, exist_ok=True)
    palette = np.zeros((256, 3), np.uint8)
    palette[:len(palette_colours)] = palette_colours
    palette[IGNORE_INDEX] = (224, 224, 192)  # VOC's colour for the rims
    ids = {}
    for split, split_scenes in scenes.items():
        ids[split] = []
        for i, (image, label, *_) in enumerate(split_scenes):
            name = f'{split}_{i:06d}'
            Image.fromarray(image).save(
                osp.join(folders[0], name + '.jpg'), quality=95)
            annotation = Image.frombytes('P', label.shape[::-1],
                                         label.tobytes())
            annotation.putpalette(palette.tobytes())
            annotation.save(osp.join(folders[1], name + '.png'))
            ids[split].append(name)
    splits = dict(ids)
    ids['trainval'] = ids['train'] + ids['val']
    for split, names in ids.items():
        with open(osp.join(folders[2], split + '.txt'), 'w') as f:
            f.writelines(name + '\n' for name in names)
    return splits


def make_digits_cityscapes(root: str,
                           num_train: int,
                           num_val: int,
                           image_size: Tuple[int, int] = (128, 256),
                           seed: int = 0,
                           city: str = 'digits',
                           **scene_options) -> Dict[str, List[str]]:
    """Write digit scenes in the Cityscapes layout read by mmseg.

    .. code-block:: none

        root/leftImg8bit/{train,val}/<city>/<name>_leftImg8bit.png
        root/gtFine/{train,val}/<city>/<name>_gtFine_labelTrainIds.png

    where ``<name>`` is ``<city>_000000_NNNNNN``, Cityscapes' naming.

    Labels are single-channel train ids as made by Cityscapes'
    ``createTrainIdLabelImgs``: background 0 ('road'), digit ``k`` is
    ``k + 1`` ('sidewalk' .. 'vegetation'), 255 ignored. Only the files
    mmseg's ``CityscapesDataset`` reads are written. The default size keeps
    Cityscapes' 1:2 aspect ratio. With ``root='data/cityscapes'`` mmseg's
    stock ``cityscapes.py`` dataset config finds the data.

    Args:
        root (str): Output folder (created), e.g. 'data/cityscapes'.
        num_train (int): Number of train images.
        num_val (int): Number of val images.
        image_size (tuple[int, int]): (H, W). Defaults to (128, 256).
        seed (int): Seed. Defaults to 0.
        city (str): Name of the (only) city folder. Defaults to 'digits'.
        **scene_options: Options of :func:`render_digits_scene`.

    Returns:
        dict[str, list[str]]: The image names (``<city>_000000_NNNNNN``) of
        each split.
    """
    scenes = _split_scenes(num_train, num_val, image_size, seed, scene_options)
    names = {}
    for split, split_scenes in scenes.items():
        image_dir = osp.join(root, 'leftImg8bit', split, city)
        label_dir = osp.join(root, 'gtFine', split, city)
        os.makedirs(image_dir, exist_ok=True)
        os.makedirs(label_dir, exist_ok=True)
        names[split] = []
        for i, (image, label, _) in enumerate(split_scenes):
            name = f'{city}_000000_{i:06d}'
            Image.fromarray(image).save(
                osp.join(image_dir, name + '_leftImg8bit.png'))
            Image.fromarray(label).save(
                osp.join(label_dir, name + '_gtFine_labelTrainIds.png'))
            names[split].append(name)
    return names


def make_digits_classification(
    root: str,
    num_train: int,
    num_val: int,
    image_size: Tuple[int, int] = (64, 64),
    seed: int = 0,
    scale_range: Tuple[float, float] = (2.0, 12.0)
) -> Dict[str, List[str]]:
    """Write one-digit images in mmpretrain's ``CustomDataset`` folder layout.

    .. code-block:: none

        root/{train,val}/<digit>/NNNNNN.png      (<digit> is '0' .. '9')

    ``CustomDataset`` numbers the class folders in sorted order, so the
    folder names '0' .. '9' make the label equal to the digit. All ten
    folders are always created, so the dataset has 10 classes; image ``i``
    shows digit ``i % 10`` (balanced classes). The digit lies fully inside
    the image at a log-uniform scale in ``scale_range``, capped so it fits.
    Read it with
    ``CustomDataset(data_root=root, data_prefix='train')``.

    Args:
        root (str): Output folder (created).
        num_train (int): Number of train images.
        num_val (int): Number of val images.
        image_size (tuple[int, int]): (H, W). Defaults to (64, 64).
        seed (int): Seed. Defaults to 0.
        scale_range (tuple[float, float]): Upscaling factor range of the 8x8
            digits; the high end is capped at ``min(H, W) / 8``.
            Defaults to (2.0, 12.0).

    Returns:
        dict[str, list[str]]: The image paths, relative to ``root``, of each
        split.
    """
    _check_options(
        num_train=num_train,
        num_val=num_val,
        image_size=image_size,
        seed=seed,
        scale_range=scale_range)
    height, width = image_size
    high = min(scale_range[1], min(height, width) / 8)
    if high < scale_range[0]:
        raise ValueError(f'scale_range {scale_range} does not fit '
                         f'image_size {image_size}: digits are 8 x scale px')
    paths = {}
    for split, num in (('train', num_train), ('val', num_val)):
        for digit in range(10):
            os.makedirs(osp.join(root, split, str(digit)), exist_ok=True)
        pool_images, pool_digits = _digit_pool(split)
        paths[split] = []
        for i in range(num):
            rng = _image_rng(seed, 'digit', split, i)
            digit = i % 10
            index = int(rng.choice(np.flatnonzero(pool_digits == digit)))
            size = min(
                round(8 * _log_uniform(rng, scale_range[0], high)), height,
                width)
            top = int(rng.integers(height - size + 1))
            left = int(rng.integers(width - size + 1))
            image = _texture(rng, height, width)
            _blend(image, _upscale(pool_images[index], size), top, left, rng)
            path = osp.join(split, str(digit), f'{i:06d}.png')
            Image.fromarray(np.round(image * 255).astype(np.uint8)).save(
                osp.join(root, path))
            paths[split].append(path)
    return paths
