"""padseg/analysis/object_size.py and tools/analysis/size_correlation.py:
the object under each pixel, the rank correlation of expected dilation with
object size, and the tool on a PAD model of the tiny digits set."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from helpers import REPO
from padseg.analysis import (SizeCorrelation, object_areas,
                             object_overlap_by_size, size_bin_names)

IGNORE = 255


def test_areas_are_those_of_connected_regions_of_one_class():
    label = np.zeros((6, 8), dtype=np.int64)
    label[0:2, 0:2] = 1          # a 2x2 square of class 1
    label[4:6, 5:8] = 1          # a 2x3 block of class 1, apart from it
    label[3, 0] = 2              # one pixel of class 2
    label[2, 2] = 1              # touches the square by a corner only
    label[5, 0] = IGNORE
    areas = object_areas(label, IGNORE)
    assert areas[0, 0] == 5      # 8-connected: square + corner pixel
    assert areas[4, 6] == 6 and areas[3, 0] == 1
    assert np.isnan(areas[5, 0])
    assert areas[3, 4] == (label == 0).sum()  # background is one region
    excluded = object_areas(label, IGNORE, exclude=[0])
    assert np.isnan(excluded[3, 4]) and excluded[0, 0] == 5
    with pytest.raises(ValueError, match='H, W'):
        object_areas(label[None])


def squares_label(size=32):
    """Objects of areas 4, 36 and 256 on background (class 0, excluded)."""
    label = np.zeros((size, size), dtype=np.int64)
    label[1:3, 1:3] = 1
    label[1:7, 10:16] = 2
    label[14:30, 14:30] = 3
    return label


@pytest.mark.parametrize('sign', [1, -1])
def test_rho_is_the_sign_of_dilation_growing_with_object_size(sign):
    label = squares_label()
    areas = object_areas(label, IGNORE, exclude=[0])
    # layers whose expected dilation follows the object size, at the
    # label's resolution and at half of it (resized, nearest)
    grid = torch.from_numpy(np.nan_to_num(areas)).float()
    correlation = SizeCorrelation()
    correlation.update({'up': 1 + sign * grid / 256,
                        'half': 1 + sign * grid[::2, ::2] / 256,
                        'flat': torch.full_like(grid, 2.0)}, areas)
    result = correlation.summary()
    assert result['up']['rho'] == pytest.approx(sign, abs=1e-6)
    assert result['half']['rho'] * sign > 0.95  # borders move by a pixel
    assert result['up']['pixels'] == 4 + 36 + 256
    assert (result['up']['large_objects'] - result['up']['small_objects']
            ) * sign > 0
    assert np.isnan(result['flat']['rho'])  # no ranking to speak of


def test_pixels_per_image_are_bounded():
    areas = object_areas(squares_label(), IGNORE)
    correlation = SizeCorrelation(max_pixels=50)
    correlation.update({'layer': torch.rand(16, 16)}, areas)
    assert correlation.summary()['layer']['pixels'] == 50
    with pytest.raises(ValueError, match='max_pixels'):
        SizeCorrelation(max_pixels=0)


def test_size_correlation_tool_on_a_pad_model(tiny, tmp_path):
    out = tmp_path / 'size.json'
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    done = subprocess.run(
        [sys.executable, 'tools/analysis/size_correlation.py',
         tiny.pad_config, tiny.pad_checkpoint, '--num-images', '4',
         '--exclude-classes', '0', '--out', str(out), '--cfg-options'] +
        tiny.cfg_options, cwd=REPO, env=env, capture_output=True, text=True,
        timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text())
    assert list(results) == ['backbone.layer4.0.conv2',
                             'backbone.layer4.1.conv2',
                             'backbone.layer4.2.conv2']
    for layer, r in results.items():
        assert -1 <= r['rho'] <= 1 and r['pixels'] > 0, layer
        assert f"| {layer} | {r['rho']:.3f} |" in done.stdout


def test_size_correlation_tool_names_a_model_without_pad(tiny):
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    done = subprocess.run(
        [sys.executable, 'tools/analysis/size_correlation.py',
         tiny.vanilla_config, tiny.vanilla_checkpoint, '--num-images', '1',
         '--cfg-options'] + tiny.cfg_options, cwd=REPO, env=env,
        capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and 'no PAD layer' in done.stderr


def test_object_overlap_by_size_counts_misses_and_spills_per_bin():
    label = squares_label()  # sqrt(area) 2, 6 and 16
    pred = label.copy()
    perfect = object_overlap_by_size(pred, label, (4, 10), IGNORE, [0])
    assert perfect[:, 2].tolist() == [1, 1, 1]  # one object per bin
    assert np.array_equal(perfect[:, 0], perfect[:, 1])  # IoU 1 everywhere
    assert perfect[:, 0].tolist() == [4, 36, 256]
    pred[1:3, 1:3] = 0      # the small object missed
    pred[13, 14:30] = 3     # the large one spills one row above itself
    pred[0, 30] = 3         # outside its box grown by 0.25 * 16 = 4 px
    result = object_overlap_by_size(pred, label, (4, 10), IGNORE, [0])
    assert result[0, :2].tolist() == [0, 4]
    assert result[1, :2].tolist() == [36, 36]
    # the row above counts, the far pixel (14 rows above the square) not
    assert result[2, :2].tolist() == [256, 256 + 16]
    # ignored pixels count nowhere, not even as a spill
    ignored = label.copy()
    ignored[13, 14:30] = IGNORE
    again = object_overlap_by_size(pred, ignored, (4, 10), IGNORE, [0])
    assert again[2, :2].tolist() == [256, 256]
    with pytest.raises(ValueError, match='one shape'):
        object_overlap_by_size(pred[:-1], label, (4, ))


def test_size_bin_names_follow_the_edges():
    assert size_bin_names((16, 32)) == ['<16px', '16-32px', '>=32px']
    assert size_bin_names((24, )) == ['<24px', '>=24px']
    with pytest.raises(ValueError, match='increasing'):
        size_bin_names((32, 16))
    with pytest.raises(ValueError, match='positive'):
        size_bin_names((0, 16))
