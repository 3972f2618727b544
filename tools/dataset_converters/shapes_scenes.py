"""Shapes: a second multi-scale segmentation set, generated differently from
the digits (other backgrounds, other objects, another scale range), for
studies that should not hold on one data set only.

Each scene is a dim background of random blobs and dots (no stripes or
gradients, unlike the digits) with one to five light solid shapes - disk,
square or triangle, classes 1..3 (0 is background) - whose sizes are drawn
log-uniformly from 6 to 90 px, so one class spans a factor of 15 in scale.
A pixel deep inside a large shape sees the same colour whatever the shape:
only a receptive field that reaches the shape's outline tells the class.

    python tools/dataset_converters/make_shapes.py --out data/shapes_voc

writes the Pascal VOC layout that ``configs/shapes/`` read with mmseg's
``BaseSegDataset`` (class names in the config's ``metainfo``). Image ``i`` of
a split comes from its own random stream ``(seed, split, i)``.
"""
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from digits_scenes import write_voc_layout

__all__ = [
    'SHAPES_METAINFO', 'COLOUR_METAINFO', 'SCENES', 'render_shapes_scene',
    'render_nested_rings', 'make_shapes_voc'
]

SHAPES_METAINFO = dict(
    classes=('background', 'disk', 'square', 'triangle'),
    palette=[[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]])
#: With ``class_by='colour'`` the class is the shape's main colour, whatever
#: its outline: red, green or blue (the other two channels lower).
COLOUR_METAINFO = dict(
    classes=('background', 'red', 'green', 'blue'),
    palette=[[0, 0, 0], [128, 0, 0], [0, 128, 0], [0, 0, 128]])
CLASS_BY = ('shape', 'colour')
#: Random streams of the splits, apart from each other and the digits'.
_SPLITS = {'train': 10, 'val': 11, 'test': 12}


def _background(rng: np.random.Generator, height: int,
                width: int) -> np.ndarray:
    """Dim blobs of colour with scattered small dots, float32 in [0, 0.45]."""
    blobs = rng.uniform(0.0, 1.0, size=(int(rng.integers(3, 9)),) * 2 + (3, ))
    image = cv2.resize(blobs.astype(np.float32), (width, height),
                       interpolation=cv2.INTER_LINEAR) * 0.35
    dots = rng.uniform(size=(height, width)) < 0.01
    image[dots] += rng.uniform(0.0, 0.1, size=(int(dots.sum()), 3))
    return image + rng.normal(0.0, 0.02, size=image.shape).astype(np.float32)


def _mask(kind: int, size: float, centre: Tuple[float, float],
          angle: float, height: int, width: int) -> np.ndarray:
    """The pixels of a shape of ``kind`` (1 disk, 2 square, 3 triangle) with
    circumradius ``size / 2`` at ``centre``, turned by ``angle``."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    dy, dx = rows - centre[0], cols - centre[1]
    radius = size / 2
    if kind == 1:
        return dy * dy + dx * dx <= radius * radius
    turn = np.array([[np.cos(angle), -np.sin(angle)],
                     [np.sin(angle), np.cos(angle)]], np.float32)
    u = turn[0, 0] * dx + turn[0, 1] * dy
    v = turn[1, 0] * dx + turn[1, 1] * dy
    if kind == 2:
        half = radius / np.sqrt(2)
        return (np.abs(u) <= half) & (np.abs(v) <= half)
    # an equilateral triangle: inside all three edges
    inside = np.ones_like(u, dtype=bool)
    for k in range(3):
        edge = 2 * np.pi * k / 3
        inside &= (u * np.cos(edge) + v * np.sin(edge)) <= radius / 2
    return inside


def _check_outline(outline: Optional[int]) -> None:
    if outline is not None and (not isinstance(outline, int)
                                or isinstance(outline, bool) or outline < 1):
        raise ValueError(f'outline must be a positive int or None, got '
                         f'{outline!r}')


def _draw(rng: np.random.Generator, image: np.ndarray, label: np.ndarray,
          kind: int, size: float, centre: Tuple[float, float],
          outline: Optional[int], class_by: str, avoid: int = 0) -> int:
    """Paint one shape of ``kind`` (1 disk, 2 square, 3 triangle) with a
    random turn and colour into ``image`` and its class into ``label`` (over
    the whole shape, also with ``outline``); returns the class. With
    ``class_by='colour'`` the class is never ``avoid`` (0: any)."""
    height, width = label.shape
    mask = _mask(kind, size, centre, rng.uniform(0, 2 * np.pi), height,
                 width)
    colour = rng.uniform(0.55, 1.0, size=3).astype(np.float32)
    if class_by == 'colour':
        kind = (int(rng.integers(1, 4)) if not avoid else
                int(rng.choice([k for k in (1, 2, 3) if k != avoid])))
        colour[np.arange(3) != kind - 1] *= rng.uniform(0.0, 0.5)
    paint = mask
    if outline is not None:  # only a band along the edge is drawn
        inner = cv2.erode(mask.astype(np.uint8),
                          np.ones((2 * outline + 1, ) * 2, np.uint8))
        paint = mask & ~inner.astype(bool)
    image[paint] = colour + rng.normal(0.0, 0.03, size=(int(paint.sum()), 3))
    label[mask] = kind
    return kind


def render_shapes_scene(rng: np.random.Generator,
                        image_size: Tuple[int, int] = (96, 96),
                        size_range: Tuple[float, float] = (6.0, 90.0),
                        shapes_per_image: Tuple[int, int] = (1, 5),
                        outline: Optional[int] = None,
                        class_by: str = 'shape'
                        ) -> Tuple[np.ndarray, np.ndarray]:
    """One scene: ``image`` uint8 (H, W, 3) RGB and ``label`` uint8 (H, W),
    later shapes on top of earlier ones.

    With ``outline`` (pixels, > 0) a shape is drawn as a band of that width
    along its edge and its inside shows the background, while the label
    still covers the whole shape ("rings"): a pixel inside a large shape
    then looks like background, and only a receptive field that reaches the
    outline tells it apart.

    ``class_by='colour'`` makes the class the shape's dominant colour channel
    (red 1, green 2, blue 3; see :data:`COLOUR_METAINFO`) and its outline
    any of the three: told apart at a glance where a shape is drawn, so with
    ``outline`` the one thing a pixel inside a large ring lacks is a
    receptive field that reaches the ring.
    """
    if class_by not in CLASS_BY:
        raise ValueError(f'class_by must be one of {CLASS_BY}, got '
                         f'{class_by!r}')
    _check_outline(outline)
    height, width = image_size
    image = _background(rng, height, width)
    label = np.zeros((height, width), np.uint8)
    for _ in range(int(rng.integers(shapes_per_image[0],
                                    shapes_per_image[1] + 1))):
        kind = int(rng.integers(1, 4))
        size = float(np.exp(rng.uniform(*np.log(size_range))))
        centre = (rng.uniform(0, height), rng.uniform(0, width))
        _draw(rng, image, label, kind, size, centre, outline, class_by)
    return (np.round(np.clip(image, 0, 1) * 255).astype(np.uint8), label)


def render_nested_rings(rng: np.random.Generator,
                        image_size: Tuple[int, int] = (96, 96),
                        large_range: Tuple[float, float] = (44.0, 90.0),
                        small_range: Tuple[float, float] = (10.0, 22.0),
                        large_per_image: Tuple[int, int] = (1, 2),
                        small_per_image: Tuple[int, int] = (2, 6),
                        inside: float = 0.75,
                        outline: int = 2
                        ) -> Tuple[np.ndarray, np.ndarray]:
    """A scene where no single receptive field is right everywhere: large
    rings (``large_range`` px across), then small rings (``small_range``) on
    top, each inside a large ring with probability ``inside`` and then of
    another colour than that ring. Class = colour (:data:`COLOUR_METAINFO`),
    every shape drawn as a band of ``outline`` px and labelled over its
    whole area (a later shape over an earlier one).

    A pixel inside a large ring is told apart from background only by a
    receptive field that reaches the large ring; a pixel inside a small ring
    nested in a large one must read the near band and not the far one, which
    a large receptive field reaches too. Returns ``image`` uint8 (H, W, 3)
    RGB and ``label`` uint8 (H, W).
    """
    _check_outline(outline)
    if not 0 <= inside <= 1:
        raise ValueError(f'inside must be in [0, 1], got {inside!r}')
    height, width = image_size
    image = _background(rng, height, width)
    label = np.zeros((height, width), np.uint8)
    large = []  # (centre, size, class) of each large ring
    for _ in range(int(rng.integers(large_per_image[0],
                                    large_per_image[1] + 1))):
        kind = int(rng.integers(1, 4))
        size = float(np.exp(rng.uniform(*np.log(large_range))))
        centre = (rng.uniform(0.2, 0.8) * height,
                  rng.uniform(0.2, 0.8) * width)
        large.append((centre, size,
                      _draw(rng, image, label, kind, size, centre, outline,
                            'colour')))
    for _ in range(int(rng.integers(small_per_image[0],
                                    small_per_image[1] + 1))):
        kind = int(rng.integers(1, 4))
        size = float(np.exp(rng.uniform(*np.log(small_range))))
        avoid = 0
        if large and rng.uniform() < inside:
            (cy, cx), outer, avoid = large[int(rng.integers(len(large)))]
            # within the large ring's inscribed disk, clear of its band
            reach = max(0.0, outer / 4 - size / 2)
            angle, r = rng.uniform(0, 2 * np.pi), rng.uniform(0, reach)
            centre = (cy + r * np.sin(angle), cx + r * np.cos(angle))
        else:
            centre = (rng.uniform(0, height), rng.uniform(0, width))
        _draw(rng, image, label, kind, size, centre, outline, 'colour',
              avoid)
    return (np.round(np.clip(image, 0, 1) * 255).astype(np.uint8), label)


def _split_scenes(render, seed: int, split: str, num: int,
                  image_size: Tuple[int, int], options: dict):
    """The ``num`` scenes of ``split``, rendered on demand. A function of its
    own so that each split's generator keeps its own ``split``: a generator
    written inline in a loop over the splits would read the loop's last
    ``split`` when it runs (until 2026-12-07 the train scenes were the val
    scenes' stream, so val image i repeated train image i)."""
    return (render(np.random.default_rng([seed, _SPLITS[split], i]),
                   image_size, **options) for i in range(num))


#: Scene generators by name (``make_shapes_voc(..., scene=NAME)``).
SCENES = {'shapes': render_shapes_scene, 'nested': render_nested_rings}


def make_shapes_voc(root: str, num_train: int, num_val: int,
                    image_size: Tuple[int, int] = (96, 96), seed: int = 0,
                    num_test: int = 0, scene: str = 'shapes',
                    **scene_options) -> Dict[str, List[str]]:
    """Write scenes of ``scene`` (a name of :data:`SCENES`) in the Pascal
    VOC 2012 layout under ``root/VOC2012`` (see
    :func:`digits_scenes.write_voc_layout`): ``num_train`` train, ``num_val``
    val and, when ``num_test > 0``, ``num_test`` test images (``test.txt``).
    Image ``i`` of a split comes from the random stream ``(seed, split,
    i)``, so the splits are disjoint draws and a split does not change with
    the size of another. Returns the image ids of each split."""
    counts = dict(train=num_train, val=num_val, test=num_test)
    for name, value in counts.items():
        low = 0 if name == 'test' else 1
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f'num_{name} must be an int >= {low}, got '
                             f'{value!r}')
    if scene not in SCENES:
        raise ValueError(f'scene must be one of {tuple(SCENES)}, got '
                         f'{scene!r}')
    scenes = {split: _split_scenes(SCENES[scene], seed, split, num,
                                   tuple(image_size), scene_options)
              for split, num in counts.items() if num}
    colour = scene == 'nested' or scene_options.get('class_by') == 'colour'
    metainfo = COLOUR_METAINFO if colour else SHAPES_METAINFO
    return write_voc_layout(root, scenes, metainfo['palette'])
