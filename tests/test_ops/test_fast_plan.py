"""The plan of the CPU fast paths (``padseg/ops/fast_plan.py``): kept per
geometry, dtype and chunk setting; where each candidate's taps read."""
import torch

from helpers.pad_geometry import GEOMETRIES, geometry_args
from padseg.ops import fast_plan, geometry


def test_plans_are_kept_per_geometry_dtype_and_chunk_setting(monkeypatch):
    x, weight, _, probs, rest = geometry_args(GEOMETRIES[1])
    out_size = tuple(probs.shape[-2:])
    plan = fast_plan.Plan.of(x, weight, out_size, *rest)
    assert fast_plan.Plan.of(x.clone(), weight.clone(), out_size,
                             *rest) is plan
    assert fast_plan.Plan.of(x[:1], weight, out_size, *rest).batch == 1
    assert fast_plan.Plan.of(x.float(), weight, out_size,
                             *rest) is not plan
    assert plan.rows_per_chunk == plan.out_size[0]
    monkeypatch.setattr(fast_plan, '_CHUNK_PIXELS', 1)
    monkeypatch.setattr(fast_plan, '_CHUNK_BYTES', 1)
    assert fast_plan.Plan.of(x, weight, out_size, *rest).rows_per_chunk == 1


def test_tap_offsets_are_where_each_candidate_reads():
    rows, cols = geometry.tap_offsets((3, 5), [(1, 2), (4, 8)],
                                       [(1, 1), (4, 4)])
    assert rows.tolist() == [[-1, 0, 1], [-4, 0, 4]]
    assert cols.tolist() == [[-2, -1, 0, 1, 2], [-8, -4, 0, 4, 8]]
    assert rows.dtype == cols.dtype == torch.int64
