"""Figures of the analysis tools (matplotlib, no pyplot: no global state, no
display needed). Maps are drawn over the image in input coordinates: a map of
any resolution covers the network input ``input_size`` (the image plus any
bottom/right padding of the data preprocessor)."""
import math
import textwrap
from typing import Dict, Mapping, Sequence, Tuple

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from torch import nn

from padseg.ops import pad_layers
from .data import Sample, preprocess, run_model
from .dilation import candidate_values, dilation_maps, record_priors

__all__ = [
    'draw_dilation_maps', 'dilation_map_figure', 'receptive_field_figure',
    'activation_figure', 'figure_to_rgb'
]

Size = Tuple[int, int]
PANEL = 2.6  # inches per panel
MAX_COLUMNS = 6
OVERLAY_ALPHA = 0.6


def _new_figure(rows: int, cols: int) -> Figure:
    figure = Figure(figsize=(PANEL * cols, PANEL * rows), dpi=100,
                    layout='constrained')
    FigureCanvasAgg(figure)
    return figure


def _show_image(ax, image: np.ndarray, gray: bool = False) -> None:
    if gray:
        image = image.mean(axis=2)
    ax.imshow(image, cmap='gray' if gray else None,
              extent=(0, image.shape[1], image.shape[0], 0))
    ax.set_xlim(0, image.shape[1])
    ax.set_ylim(image.shape[0], 0)
    ax.set_xticks([])
    ax.set_yticks([])


def _overlay(ax, values: np.ndarray, input_size: Size, **kwargs):
    h, w = input_size
    return ax.imshow(values, extent=(0, w, h, 0), interpolation='nearest',
                     alpha=OVERLAY_ALPHA, **kwargs)


def _title(text: str) -> str:
    # config names are long: wrap them (at hyphens when possible)
    return textwrap.fill(text, 32)


def _numpy(map_) -> np.ndarray:
    return map_.detach().cpu().double().numpy() if hasattr(
        map_, 'detach') else np.asarray(map_, dtype=np.float64)


def dilation_map_figure(image: np.ndarray,
                        maps: Mapping[str, Tuple[object, object]],
                        candidates: Mapping[str, Sequence[int]],
                        input_size: Size) -> Figure:
    """One panel pair per PAD layer: expected dilation (top) and the
    evaluation choice (bottom), over the image; the first column holds the
    image. ``maps``: ``{layer: (expected, selected)}``, ``(H, W)`` each."""
    cells = len(maps) + 1
    cols = min(cells, MAX_COLUMNS)
    blocks = math.ceil(cells / cols)
    figure = _new_figure(2 * blocks, cols)
    axes = figure.subplots(2 * blocks, cols, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    _show_image(axes[0, 0], image)
    axes[0, 0].set_axis_on()
    axes[0, 0].set_title('input', fontsize=8)
    axes[1, 0].text(0.5, 0.5, 'top: expected dilation\nbottom: argmax choice',
                    ha='center', va='center', fontsize=8)
    for cell, (name, (expected, selected)) in enumerate(maps.items(), 1):
        block, col = divmod(cell, cols)
        values = list(candidates[name])
        top, bottom = axes[2 * block, col], axes[2 * block + 1, col]
        for ax in (top, bottom):
            ax.set_axis_on()
            _show_image(ax, image, gray=True)
        shown = _overlay(top, _numpy(expected), input_size, cmap='viridis',
                         vmin=min(values), vmax=max(values))
        figure.colorbar(shown, ax=top, shrink=0.8)
        top.set_title(name, fontsize=7)
        # one colour per candidate, boundaries halfway between the values
        ordered = sorted(values)
        bounds = ([ordered[0] - 0.5] +
                  [(a + b) / 2 for a, b in zip(ordered, ordered[1:])] +
                  [ordered[-1] + 0.5])
        colours = ListedColormap(
            [f'C{i}' for i in range(len(ordered))], name='candidates')
        shown = _overlay(bottom, _numpy(selected), input_size, cmap=colours,
                         norm=BoundaryNorm(bounds, len(ordered)))
        figure.colorbar(shown, ax=bottom, shrink=0.8, ticks=ordered)
    return figure


def draw_dilation_maps(model: nn.Module, sample: Sample) -> Figure:
    """Run ``model`` (in eval mode) on ``sample`` and draw the
    :func:`dilation_map_figure` of its PAD layers."""
    layers = dict(pad_layers(model))
    if not layers:
        raise ValueError(f'{type(model).__name__} has no PAD layer')
    was_training = model.training
    model.eval()
    try:
        inputs = preprocess(model, sample)
        with record_priors(model) as priors, torch.no_grad():
            run_model(model, inputs)
    finally:
        model.train(was_training)
    maps = {name: (expected[0], selected[0])
            for name, (expected, selected) in dilation_maps(
                layers, priors).items()}
    return dilation_map_figure(
        sample.image, maps,
        {name: candidate_values(layers[name]) for name in maps},
        tuple(inputs.shape[-2:]))


def receptive_field_figure(image: np.ndarray, entries: Sequence[Dict],
                           input_size: Size) -> Figure:
    """Per model a column: its theoretical RF over the image (top) and its
    ERF (bottom, with the disc holding 95 % of the mass).

    ``entries``: dicts with ``title``, ``rf`` (``(H, W)`` bool), ``erf``
    (``(H, W)``), ``area``, ``height``, ``width``, ``erf_r50``, ``erf_r95``,
    ``erf_centre`` (``(y, x)``) and ``unit_centre`` (``(y, x)``, the
    analysed unit in input pixels, marked by a cross).
    """
    figure = _new_figure(2, len(entries))
    axes = figure.subplots(2, len(entries), squeeze=False)
    for col, entry in enumerate(entries):
        top, bottom = axes[0, col], axes[1, col]
        _show_image(top, image)
        rf = np.ma.masked_equal(_numpy(entry['rf']), 0)
        _overlay(top, rf, input_size, cmap=ListedColormap(['red']), vmin=0,
                 vmax=1)
        uy, ux = entry['unit_centre']
        top.plot([ux], [uy], marker='+', color='white', markersize=10)
        top.set_title(f"{_title(entry['title'])}\nRF: {entry['area']} px, "
                      f"{entry['height']}x{entry['width']}", fontsize=8)
        _show_image(bottom, image, gray=True)
        erf = _numpy(entry['erf'])
        _overlay(bottom, erf / max(erf.max(), 1e-30), input_size, cmap='hot',
                 vmin=0, vmax=1)
        cy, cx = entry['erf_centre']
        bottom.add_patch(Circle((cx + 0.5, cy + 0.5), entry['erf_r95'],
                                fill=False, color='cyan', linewidth=1))
        bottom.set_title(f"ERF: r50 {entry['erf_r50']:.1f}, "
                         f"r95 {entry['erf_r95']:.1f} px", fontsize=8)
    return figure


def activation_figure(image: np.ndarray, maps: Mapping[str, object],
                      input_size: Size, layer: str) -> Figure:
    """The image, then per model (``{title: (H, W) map}``) the mean absolute
    activation of ``layer`` over the image, each on its own scale."""
    figure = _new_figure(1, len(maps) + 1)
    axes = figure.subplots(1, len(maps) + 1, squeeze=False)[0]
    _show_image(axes[0], image)
    axes[0].set_title(f'input\n{layer}', fontsize=8)
    for ax, (title, values) in zip(axes[1:], maps.items()):
        _show_image(ax, image, gray=True)
        shown = _overlay(ax, _numpy(values), input_size, cmap='magma')
        figure.colorbar(shown, ax=ax, shrink=0.8)
        ax.set_title(_title(title), fontsize=8)
    return figure


def figure_to_rgb(figure: Figure) -> np.ndarray:
    """The rendered figure as an ``(H, W, 3)`` uint8 RGB array."""
    canvas = figure.canvas
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
